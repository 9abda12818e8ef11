"""Where seqconv finds the shared real data sets and where it caches processed data.

* :func:`shared_data_dir` -- the read-only folder with IMDB, CIFAR-10, MNIST, ... (see ``shared/data/README.md``).
  Resolution order: the environment variable ``SEQCONV_DATA``; else ``<repo>/../shared/data``.
* :func:`cache_dir` -- a writable folder for generated data sets and processed Arrow caches.
  Resolution order: the environment variable ``SEQCONV_CACHE``; else ``~/.cache/seqconv``.
"""

from __future__ import annotations

import os
from pathlib import Path

__all__ = ["shared_data_dir", "cache_dir", "repo_root"]


def repo_root() -> Path:
    """The root of the seqconv source checkout (the folder that holds ``seqconv/``)."""
    return Path(__file__).resolve().parent.parent


def shared_data_dir() -> Path:
    """Folder holding the shared real data sets (read it in place; never copy it into the repo).

    Returns ``$SEQCONV_DATA`` when set, else ``<repo>/../shared/data`` when it exists.

    Raises:
        FileNotFoundError: when ``SEQCONV_DATA`` points at a missing folder, or when it is unset and
            ``<repo>/../shared/data`` does not exist; the message says how to point seqconv at the data.
    """
    env = os.environ.get("SEQCONV_DATA")
    if env:
        path = Path(env).expanduser()
        if not path.is_dir():
            raise FileNotFoundError(
                f"SEQCONV_DATA={env!r} is not an existing folder; set SEQCONV_DATA to the folder that holds "
                "imdb/, cifar10/, ... (the shared data README describes the layout), or unset it to use "
                f"{repo_root().parent / 'shared' / 'data'}"
            )
        return path
    default = repo_root().parent / "shared" / "data"
    if default.is_dir():
        return default
    raise FileNotFoundError(
        f"No shared data folder found: SEQCONV_DATA is unset and {default} does not exist. "
        "Point seqconv at the data with `export SEQCONV_DATA=/path/to/shared/data` (the folder holding imdb/, "
        "cifar10/, mnist/, ...), or pass an explicit data_dir to the loader."
    )


def cache_dir() -> Path:
    """Writable cache folder: ``$SEQCONV_CACHE`` when set, else ``~/.cache/seqconv`` (created on demand)."""
    env = os.environ.get("SEQCONV_CACHE")
    path = Path(env).expanduser() if env else Path.home() / ".cache" / "seqconv"
    path.mkdir(parents=True, exist_ok=True)
    return path
