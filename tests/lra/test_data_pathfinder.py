"""Pathfinder / Path-X: generator properties, marker connectivity, official layout I/O, corrupt files."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
from PIL import Image

from lra.data import load_task
from lra.data.pathfinder import (
    PATHFINDER32,
    PATHX,
    PathfinderSample,
    generate_sample,
    markers_connected,
    pathfinder_dir,
    pathfinder_index,
    read_images,
    render,
    write_pathfinder,
)


def _hand_sample(paths, markers, margin=1.0):
    paths = [np.asarray(p, dtype=float) for p in paths]
    markers = np.asarray(markers, dtype=float)
    return PathfinderSample(render(paths, markers, PATHFINDER32), 0, paths, markers, margin)


def test_markers_connected_on_hand_built_geometry():
    # a straight dashed path along y=8: dashes of length 2, gaps of exactly 1 (= margin)
    dashed = [[[x, 8.0], [x + 2.0, 8.0]] for x in (2.0, 5.0, 8.0, 11.0)]
    other = [[[2.0, 20.0], [4.0, 20.0]], [[5.0, 20.0], [7.0, 20.0]]]
    assert markers_connected(_hand_sample([dashed, other], [[2.0, 8.0], [13.0, 8.0]]))
    assert not markers_connected(_hand_sample([dashed, other], [[2.0, 8.0], [7.0, 20.0]]))
    # widen one gap to 2.5 > margin: the path is broken
    broken = [[[x, 8.0], [x + 2.0, 8.0]] for x in (2.0, 5.0, 9.5, 12.5)]
    assert not markers_connected(_hand_sample([broken], [[2.0, 8.0], [14.5, 8.0]]))
    # a marker off every path touches nothing
    assert not markers_connected(_hand_sample([dashed], [[2.0, 8.0], [25.0, 25.0]]))


@pytest.mark.parametrize("cfg, n", [(PATHFINDER32, 60), (PATHX, 6)])
def test_connectivity_matches_label_and_markers_are_drawn(cfg, n):
    for i in range(n):
        label = i % 2
        s = generate_sample(cfg, label, (7, i))
        assert s.image.shape == (cfg.image_size, cfg.image_size) and s.image.dtype == np.uint8
        assert markers_connected(s) == bool(label)
        assert len(s.paths) == 2 + cfg.resolved_num_distractors
        assert [len(p) for p in s.paths[:2]] == [cfg.contour_length] * 2
        for x, y in s.markers:  # markers sit on path ends and are drawn solid
            assert s.image[int(y), int(x)] == 255
            assert 0 <= x < cfg.image_size and 0 <= y < cfg.image_size
        assert 0 < (s.image > 0).mean() < 0.5  # antialiased strokes, mostly background
        assert len(np.unique(s.image)) > 3  # grey levels from antialiasing, not a binary image


def test_generation_is_deterministic():
    a = generate_sample(PATHFINDER32, 1, (0, 5))
    b = generate_sample(PATHFINDER32, 1, (0, 5))
    c = generate_sample(PATHFINDER32, 1, (0, 6))
    assert np.array_equal(a.image, b.image) and not np.array_equal(a.image, c.image)


def test_write_official_layout_balanced_and_independent_of_workers(tmp_path):
    small = dataclasses.replace(PATHFINDER32)
    d2 = write_pathfinder(tmp_path / "w2", 50, small, seed=3, num_workers=2, images_per_batch=20, chunk_size=8,
                          progress=False)
    d0 = write_pathfinder(tmp_path / "w0", 50, small, seed=3, num_workers=0, images_per_batch=20, progress=False)
    assert d2 == pathfinder_dir(tmp_path / "w2", 32, 14)
    assert d2 == tmp_path / "w2" / "pathfinder32" / "curv_contour_length_14"
    assert sorted(p.name for p in (d2 / "metadata").iterdir()) == ["0.npy", "1.npy", "2.npy"]
    first = (d2 / "metadata" / "1.npy").read_text().splitlines()[0].split()
    assert first[:3] == ["imgs/1", "sample_0.png", "0"] and first[3] in ("0", "1")
    index = pathfinder_index(d2)
    assert len(index) == 50 and sum(lab for _, lab in index) == 25  # exactly balanced
    assert index == [(d2 / p.relative_to(d0), lab) for p, lab in pathfinder_index(d0)]
    for (p2, _), (p0, _) in zip(index, pathfinder_index(d0)):
        assert np.array_equal(np.asarray(Image.open(p2)), np.asarray(Image.open(p0)))
    # rendered PNG agrees with an in-memory regeneration of the same stream
    i = 23
    s = generate_sample(small, index[i][1], (3, i))
    assert np.array_equal(np.asarray(Image.open(index[i][0])), s.image)
    assert markers_connected(s) == bool(index[i][1])


def test_reader_skips_empty_and_corrupt_images_with_warning(tmp_path):
    d = write_pathfinder(tmp_path, 30, PATHFINDER32, seed=0, num_workers=0, images_per_batch=10, progress=False)
    (d / "imgs" / "1" / "sample_3.png").write_bytes(b"")  # the release has such an empty file
    (d / "imgs" / "2" / "sample_0.png").write_bytes(b"\x89PNG garbage")
    index = pathfinder_index(d)
    with pytest.warns(UserWarning, match=r"skipped 2 Pathfinder image\(s\).*sample_3.png: empty file"):
        pixels, kept = read_images([p for p, _ in index], 32)
    assert pixels.shape == (28, 1024) and 13 not in kept and 20 not in kept
    with pytest.warns(UserWarning, match="skipped 2"):
        ds = load_task("pathfinder", tmp_path)
    assert len(ds.train) + len(ds.val) + len(ds.test) == 28
    assert 22 <= len(ds.train) <= 24 and 2 <= len(ds.val) <= 3  # 24/3/3 split of 30, minus the 2 bad files
    assert ds.vocab_size is None and ds.d_input == 1 and ds.pad_id is None and ds.seq_len == 1024
    batch = ds.collate([ds.train[i] for i in range(4)])
    assert batch["inputs"].shape == (4, 1024, 1) and batch["mask"].all()
    assert batch["inputs"].min() >= -1 and batch["inputs"].max() <= 1 and batch["inputs"].max() == 1


def test_split_80_10_10(tmp_path):
    write_pathfinder(tmp_path, 40, PATHFINDER32, seed=1, num_workers=0, images_per_batch=40, progress=False)
    ds = load_task("pathfinder", tmp_path, seed=5)
    assert (len(ds.train), len(ds.val), len(ds.test)) == (32, 4, 4)
    rows = [tuple(r["pixels"].tolist()) for split in (ds.train, ds.val, ds.test) for r in split]
    assert len(set(rows)) == 40  # disjoint


@pytest.mark.parametrize(
    "line, needle",
    [("imgs/0 sample_0.png 0\n", "expected at least 4"), ("imgs/0 sample_0.png 0 2\n", "label 2 out of range"),
     ("imgs/0 sample_0.png 0 x\n", "is not an integer")],
)
def test_bad_metadata_names_file_and_line(tmp_path, line, needle):
    (tmp_path / "metadata").mkdir()
    (tmp_path / "metadata" / "0.npy").write_text("imgs/0 sample_1.png 1 0\n" + line)
    with pytest.raises(ValueError, match=f"0.npy:2: .*{needle}"):
        pathfinder_index(tmp_path)
    with pytest.raises(FileNotFoundError, match="metadata"):
        pathfinder_index(tmp_path / "nowhere")


def test_load_task_generates_pathfinder_offline():
    ds = load_task("pathfinder", n_train=16, n_eval=2, num_workers=0, progress=False)
    assert (len(ds.train), len(ds.val), len(ds.test)) == (16, 2, 2)
    assert {int(r["label"]) for r in ds.train} == {0, 1}


def test_pathx_official_layout_and_missing_file(tmp_path):
    d = write_pathfinder(tmp_path, 20, PATHX, seed=0, num_workers=0, images_per_batch=10, progress=False)
    assert d == tmp_path / "pathfinder128" / "curv_contour_length_14"
    (d / "imgs" / "0" / "sample_4.png").unlink()
    with pytest.warns(UserWarning, match="sample_4.png: missing file"):
        ds = load_task("pathx", tmp_path)
    assert ds.seq_len == 128 * 128 and len(ds.train) + len(ds.val) + len(ds.test) == 19
    batch = ds.collate([ds.train[0]])
    assert batch["inputs"].shape == (1, 16384, 1)
