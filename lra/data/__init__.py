"""LRA data: official-layout loaders, offline ListOps / Pathfinder generators, and :func:`load_task`.

    from lra.data import load_task
    ds = load_task("listops", n_train=2000, min_length=20, max_length=200)   # generated offline, cached
    loader = torch.utils.data.DataLoader(ds.train, batch_size=32, collate_fn=ds.collate)
"""

from .tasks import TASKS, LRADataset, collate, load_task

__all__ = ["TASKS", "LRADataset", "collate", "load_task"]
