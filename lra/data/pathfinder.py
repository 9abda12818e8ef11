"""Pathfinder / Path-X image generator and reader for the official on-disk layout.

Written from the published description (Linsley et al. 2018; LRA, REFERENCE §3), not from the original code.
An image holds two *target* paths of ``contour_length`` short dashes ("paddles") and ``num_distractors``
shorter distractor paths, all drawn white on black with antialiasing. Two circular markers sit on path ends:
on the two ends of one target path (label 1, "connected") or on one end of each target path (label 0).

Geometry (all lengths in output pixels): a path is a random walk of paddles; paddle ``i`` is a segment of
length ``paddle_length`` in direction ``theta_i``; the next paddle starts ``margin`` further along the new
direction ``theta_{i+1} = theta_i + U(-max_turn, max_turn)``, so consecutive dashes are exactly ``margin`` apart.
Paddles of different paths keep a centreline distance of at least ``clearance`` (> margin), and paths keep away
from the four target end points (where markers may go), so the only way to get from one marker to the other by
hops of at most ``margin`` is along a target path. :func:`markers_connected` checks exactly that on a sample
(union-find over all paddles with link distance ``margin``), independently of the label.

Rendering: every paddle/marker is rasterised as a binary shape on a grid ``antialias_scale`` times finer, which
is then box-filtered down (area coverage), giving 8-bit antialiased grey levels.

Official layout written by :func:`write_pathfinder` and read by :func:`pathfinder_index`::

    <root>/pathfinder32/curv_contour_length_14/imgs/<batch>/sample_<j>.png
    <root>/pathfinder32/curv_contour_length_14/metadata/<batch>.npy   # plain text: "imgs/<batch> sample_<j>.png <j> <label>"

Presets: :data:`PATHFINDER32` (32 px "hard") and :data:`PATHX` (128 px). The original's "continuity" knob has
no exact counterpart here; curvature is set by ``max_turn_deg`` instead.
"""

from __future__ import annotations

import math
import os
import shutil
import warnings
from concurrent.futures import ProcessPoolExecutor
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Optional, Union

import numpy as np
from PIL import Image

__all__ = [
    "PathfinderConfig",
    "PathfinderSample",
    "PATHFINDER32",
    "PATHX",
    "generate_sample",
    "render",
    "markers_connected",
    "write_pathfinder",
    "pathfinder_dir",
    "pathfinder_index",
    "read_images",
]

PathLike = Union[str, Path]


@dataclass(frozen=True)
class PathfinderConfig:
    """Generator settings (lengths in output pixels).

    Attributes:
        image_size: output images are (image_size, image_size) uint8.
        contour_length: paddles per target path (LRA "hard": 14).
        distractor_length: paddles per distractor path (default contour_length // 3).
        num_distractors: number of distractor paths (default 20 // distractor_length, as the 32 px release).
        paddle_length, paddle_thickness: dash size.
        paddle_margins: gap between consecutive dashes; one value is drawn per image from this tuple.
        marker_radius: radius of the two circular markers.
        max_turn_deg: maximum change of direction between consecutive paddles, in degrees.
        clearance: minimum centreline distance between paddles of different paths (default max margin + 1.5).
        antialias_scale: supersampling factor of the rasteriser.
        border: paddles stay this far inside the image.
    """

    image_size: int = 32
    contour_length: int = 14
    distractor_length: Optional[int] = None
    num_distractors: Optional[int] = None
    paddle_length: float = 2.0
    paddle_thickness: float = 0.5
    paddle_margins: tuple[float, ...] = (1.0,)
    marker_radius: float = 1.5
    max_turn_deg: float = 45.0
    clearance: Optional[float] = None
    antialias_scale: int = 4
    border: float = 1.0

    def __post_init__(self) -> None:
        if self.image_size < 8:
            raise ValueError(f"image_size must be >= 8, got {self.image_size}")
        if self.contour_length < 2:
            raise ValueError(f"contour_length must be >= 2, got {self.contour_length}")
        if not self.paddle_margins or min(self.paddle_margins) <= 0:
            raise ValueError(f"paddle_margins must be a non-empty tuple of positive floats, got {self.paddle_margins}")
        if self.resolved_clearance <= max(self.paddle_margins):
            raise ValueError(
                f"clearance ({self.resolved_clearance}) must exceed the largest paddle margin "
                f"({max(self.paddle_margins)}), otherwise different paths could look connected"
            )
        if self.antialias_scale < 1:
            raise ValueError(f"antialias_scale must be >= 1, got {self.antialias_scale}")

    @property
    def resolved_distractor_length(self) -> int:
        return self.distractor_length if self.distractor_length is not None else max(1, self.contour_length // 3)

    @property
    def resolved_num_distractors(self) -> int:
        if self.num_distractors is not None:
            return self.num_distractors
        return 20 // self.resolved_distractor_length

    @property
    def resolved_clearance(self) -> float:
        return self.clearance if self.clearance is not None else max(self.paddle_margins) + 1.5

    def to_dict(self) -> dict:
        d = asdict(self)
        d["paddle_margins"] = list(self.paddle_margins)
        return d


PATHFINDER32 = PathfinderConfig()
"""LRA Pathfinder (32 px, contour length 14): paddle length 2, thickness 0.5, margin 1, marker radius 1.5,
20 // (14 // 3) = 5 distractors of 4 paddles."""

PATHX = PathfinderConfig(
    image_size=128,
    paddle_length=5.0,
    paddle_thickness=1.5,
    paddle_margins=(2.0, 3.0),
    marker_radius=3.0,
    num_distractors=int(35 / (14 / 3)),
    border=2.0,
)
"""LRA Path-X (128 px, contour length 14): margin 2-3, marker radius 3, thickness 1.5, 35 / (14/3) -> 7
distractors; paddle length 5 (not stated in the reference; chosen so a target path spans ~0.8 image widths)."""


@dataclass
class PathfinderSample:
    """One generated sample.

    Attributes:
        image: (image_size, image_size) uint8, 0 = background.
        label: 1 if the markers lie on the same path, else 0.
        paths: list of (n_paddles, 2, 2) float arrays [paddle, start/end, (x, y)]; paths[0] and paths[1] are the
            target paths, the rest distractors (the order is informative only; :func:`markers_connected` pools them).
        markers: (2, 2) float array of marker centres (x, y).
        margin: the paddle margin used for this image.
    """

    image: np.ndarray
    label: int
    paths: list
    markers: np.ndarray
    margin: float


def _points(a: np.ndarray, b: np.ndarray, step: float = 0.25) -> np.ndarray:
    n = max(2, int(math.ceil(float(np.hypot(*(b - a))) / step)) + 1)
    t = np.linspace(0.0, 1.0, n)[:, None]
    return a[None] * (1 - t) + b[None] * t


_GRID = 0.25  # cell size (px) of the occupancy rasters used while placing paths


class _Raster:
    """Boolean raster marking every cell that lies (partly) within ``radius`` of a stamped segment or point.

    The grid extends ``pad`` px beyond the image on every side so candidate points slightly outside the image
    can be looked up without clipping.
    """

    def __init__(self, size: float, radius: float, pad: float) -> None:
        self.p = int(math.ceil(pad / _GRID))
        self.n = int(math.ceil(size / _GRID)) + 2 * self.p
        self.grid = np.zeros((self.n, self.n), dtype=bool)
        # conservative: mark a cell when its centre is within radius + half a cell diagonal
        self.r = radius + 0.5 * _GRID * math.sqrt(2)

    def stamp(self, segs: np.ndarray) -> None:
        """segs: (m, 2, 2) segments (a point is a segment with a == b)."""
        r, p = self.r, self.p
        for a, b in segs:
            c0, r0 = np.maximum(np.floor((np.minimum(a, b) - r) / _GRID).astype(int) + p, 0)
            c1, r1 = np.minimum(np.ceil((np.maximum(a, b) + r) / _GRID).astype(int) + p, self.n)
            if c1 <= c0 or r1 <= r0:
                continue
            px = ((np.arange(c0, c1) - p + 0.5) * _GRID)[None, :]
            py = ((np.arange(r0, r1) - p + 0.5) * _GRID)[:, None]
            ab = b - a
            t = np.clip(((px - a[0]) * ab[0] + (py - a[1]) * ab[1]) / max(float(ab @ ab), 1e-12), 0.0, 1.0)
            dx, dy = px - (a[0] + t * ab[0]), py - (a[1] + t * ab[1])
            self.grid[r0:r1, c0:c1] |= dx * dx + dy * dy <= r * r

    def union(self, other: Optional[_Raster]) -> _Raster:
        if other is None:
            return self
        out = object.__new__(_Raster)
        out.p, out.n, out.r, out.grid = self.p, self.n, self.r, self.grid | other.grid
        return out

    def free(self, pts: np.ndarray) -> np.ndarray:
        """pts (k, P, 2) inside the padded grid -> (k,) True where no point falls on a marked cell."""
        cells = (pts * (1.0 / _GRID)).astype(np.intp) + self.p  # pts > -pad, so truncation == floor here
        return ~self.grid[cells[..., 1], cells[..., 0]].any(axis=-1)


def _walk(
    rng: np.random.Generator,
    n: int,
    cfg: PathfinderConfig,
    margin: float,
    near_paths: _Raster,
    near_ends: Optional[_Raster],
    ends_vs_paths: Optional[_Raster],
    max_tries: int = 100,
    n_candidates: int = 12,
) -> Optional[np.ndarray]:
    """Random walk of ``n`` paddles that keeps off ``near_paths`` (cells within the clearance of placed paths),
    off ``near_ends`` (cells near the target end points that may carry markers) and, when ``ends_vs_paths`` is
    given, keeps its own two end points off it (so a marker placed there stays clear of other paths).

    At every step ``n_candidates`` random continuations are tested at once (vectorised) and the first valid one
    is taken; when stuck the walk backtracks one or two paddles, and restarts after too many backtracks
    (at most ``max_tries`` restarts, then None). The path also keeps the clearance from its own earlier paddles.
    """
    size, L = cfg.image_size, cfg.paddle_length
    lo, hi = cfg.border, size - cfg.border
    clear2 = (cfg.resolved_clearance + 0.25) ** 2
    max_turn = math.radians(cfg.max_turn_deg)
    k = n_candidates
    n_pts = max(2, int(math.ceil(L / 0.25)) + 1)
    tt = np.linspace(0.0, 1.0, n_pts)[None, :, None]

    def far_own(pts: np.ndarray, other: np.ndarray) -> np.ndarray:  # pts (k, P, 2) -> (k,) bool
        d = pts[:, :, None, :] - other[None, None, :, :]
        return (d * d).sum(-1).min(axis=(1, 2)) >= clear2

    blocked = near_paths.union(near_ends)
    for _ in range(max_tries):
        segs: list[np.ndarray] = []
        own: list[np.ndarray] = []
        thetas: list[float] = []
        backtracks = 0
        while len(segs) < n and backtracks <= 4 * n:
            i = len(segs)
            if i == 0:
                th = rng.uniform(0, 2 * math.pi, size=k)
                a = rng.uniform(lo, hi, size=(k, 2))
            else:
                th = thetas[-1] + rng.uniform(-max_turn, max_turn, size=k)
            d = np.stack([np.cos(th), np.sin(th)], axis=1)
            if i > 0:
                a = segs[-1][1][None] + margin * d
            b = a + L * d
            ok = (np.minimum(a, b).min(1) >= lo) & (np.maximum(a, b).max(1) <= hi)
            pts = a[:, None] + (b - a)[:, None] * tt  # (k, P, 2)
            ok &= blocked.free(pts)
            if ends_vs_paths is not None and i == 0:
                ok &= ends_vs_paths.free(a[:, None])
            if ends_vs_paths is not None and i == n - 1:
                ok &= ends_vs_paths.free(b[:, None])
            if len(own) > 1 and ok.any():
                ok &= far_own(pts, np.concatenate(own[:-1]))
            idx = np.flatnonzero(ok)
            if len(idx) == 0:  # stuck: undo the last one or two paddles and try again
                backtracks += 1
                for _undo in range(min(len(segs), 1 + int(rng.integers(2)))):
                    segs.pop()
                    own.pop()
                    thetas.pop()
                continue
            c = idx[0]
            thetas.append(float(th[c]))
            segs.append(np.stack([a[c], b[c]]))
            own.append(pts[c, ::2])
        if len(segs) == n:
            return np.stack(segs)
    return None


def render(paths: list, markers: np.ndarray, cfg: PathfinderConfig) -> np.ndarray:
    """Antialiased rendering of paddles and markers: returns (image_size, image_size) uint8.

    Each shape is drawn as a binary mask on a grid ``antialias_scale`` times finer (pixel centres at
    ``(j + 0.5) / s``), then the grid is averaged over s x s blocks (box filter = area coverage).
    """
    s, size = cfg.antialias_scale, cfg.image_size
    hr = np.zeros((size * s, size * s), dtype=bool)
    half = cfg.paddle_thickness / 2
    for path in paths:
        for a, b in path:
            x0, y0 = np.minimum(a, b) - half - 1
            x1, y1 = np.maximum(a, b) + half + 1
            c0, c1 = max(0, int(x0 * s)), min(size * s, int(math.ceil(x1 * s)))
            r0, r1 = max(0, int(y0 * s)), min(size * s, int(math.ceil(y1 * s)))
            xs = (np.arange(c0, c1) + 0.5) / s
            ys = (np.arange(r0, r1) + 0.5) / s
            px, py = np.meshgrid(xs, ys)
            ab = b - a
            t = np.clip(((px - a[0]) * ab[0] + (py - a[1]) * ab[1]) / max(float(ab @ ab), 1e-12), 0.0, 1.0)
            dx, dy = px - (a[0] + t * ab[0]), py - (a[1] + t * ab[1])
            hr[r0:r1, c0:c1] |= dx * dx + dy * dy <= half * half
    r = cfg.marker_radius
    for cx, cy in markers:
        c0, c1 = max(0, int((cx - r - 1) * s)), min(size * s, int(math.ceil((cx + r + 1) * s)))
        r0, r1 = max(0, int((cy - r - 1) * s)), min(size * s, int(math.ceil((cy + r + 1) * s)))
        px, py = np.meshgrid((np.arange(c0, c1) + 0.5) / s, (np.arange(r0, r1) + 0.5) / s)
        hr[r0:r1, c0:c1] |= (px - cx) ** 2 + (py - cy) ** 2 <= r * r
    cov = hr.reshape(size, s, size, s).mean(axis=(1, 3))
    return np.round(cov * 255.0).astype(np.uint8)


def generate_sample(cfg: PathfinderConfig, label: int, seed: Union[int, tuple, list]) -> PathfinderSample:
    """Generate one sample with the requested label (0 or 1); deterministic in ``(cfg, label, seed)``."""
    if label not in (0, 1):
        raise ValueError(f"label must be 0 or 1, got {label!r}")
    rng = np.random.default_rng(seed)
    clear = cfg.resolved_clearance
    mclear = cfg.marker_radius + cfg.paddle_thickness / 2 + 1.0
    for _ in range(1000):
        margin = float(cfg.paddle_margins[rng.integers(len(cfg.paddle_margins))])
        pad = cfg.paddle_length + max(cfg.paddle_margins) + 1.0  # candidates never reach further outside
        near_paths = _Raster(cfg.image_size, clear, pad)  # within the clearance of a placed path
        near_paths_m = _Raster(cfg.image_size, mclear, pad)  # within the marker clearance of a placed path
        near_ends = _Raster(cfg.image_size, mclear, pad)  # within the marker clearance of a target end point
        a = _walk(rng, cfg.contour_length, cfg, margin, near_paths, None, None)
        if a is None:
            continue
        near_paths.stamp(a)
        near_paths_m.stamp(a)
        ends_a = np.stack([a[0, 0], a[-1, 1]])
        near_ends.stamp(np.stack([ends_a, ends_a], axis=1))
        b = _walk(rng, cfg.contour_length, cfg, margin, near_paths, near_ends, near_paths_m)
        if b is None:
            continue
        near_paths.stamp(b)
        ends = np.concatenate([ends_a, np.stack([b[0, 0], b[-1, 1]])])
        near_ends.stamp(np.stack([ends[2:], ends[2:]], axis=1))
        paths = [a, b]
        for _d in range(cfg.resolved_num_distractors):
            dpath = _walk(rng, cfg.resolved_distractor_length, cfg, margin, near_paths, near_ends, None, max_tries=30)
            if dpath is None:
                break
            paths.append(dpath)
            near_paths.stamp(dpath)
        if len(paths) < 2 + cfg.resolved_num_distractors:
            continue
        if label == 1:
            markers = ends_a.copy()
        else:
            markers = np.stack([ends_a[rng.integers(2)], ends[2 + rng.integers(2)]])
        image = render(paths, markers, cfg)
        return PathfinderSample(image=image, label=label, paths=paths, markers=markers, margin=margin)
    raise RuntimeError(f"could not place all paths in 1000 attempts; the configuration is too crowded: {cfg}")


def markers_connected(sample: PathfinderSample, *, tol: float = 0.3) -> bool:
    """Ground truth: can one walk from marker 1 to marker 2 along paddles with gaps of at most ``margin``?

    Pools all paddles of the sample (target or distractor alike, without using the label or path identity),
    links two paddles whose centrelines come within ``margin + tol`` (tol covers the 0.25 px sampling), finds
    connected components with union-find, and asks whether the paddles touching the two markers share one.
    """
    segs = np.concatenate([np.asarray(p, dtype=np.float64) for p in sample.paths])
    pts = [_points(a, b) for a, b in segs]
    owner = np.concatenate([np.full(len(p), i) for i, p in enumerate(pts)])
    allp = np.concatenate(pts)
    d = np.sqrt(((allp[:, None] - allp[None]) ** 2).sum(-1))
    n = len(segs)
    starts = np.cumsum([0] + [len(p) for p in pts[:-1]])
    seg_d = np.minimum.reduceat(np.minimum.reduceat(d, starts, axis=0), starts, axis=1)  # (n, n) paddle distances
    parent = list(range(n))

    def find(i: int) -> int:
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = parent[i]
        return i

    for i, j in zip(*np.nonzero(seg_d <= sample.margin + tol)):
        ri, rj = find(int(i)), find(int(j))
        if ri != rj:
            parent[ri] = rj
    comps = []
    for m in np.asarray(sample.markers, dtype=np.float64):
        dm = np.sqrt(((allp - m[None]) ** 2).sum(-1))
        touching = np.unique(owner[dm <= tol])
        if len(touching) == 0:
            return False
        comps.append({find(int(i)) for i in touching})
    return bool(comps[0] & comps[1])


def pathfinder_dir(root: PathLike, image_size: int = 32, contour_length: int = 14) -> Path:
    """``<root>/pathfinder<image_size>/curv_contour_length_<contour_length>``."""
    return Path(root) / f"pathfinder{image_size}" / f"curv_contour_length_{contour_length}"


def _work_chunk(args: tuple) -> list[tuple[int, int]]:
    cfg_dict, seed, indices, labels, out_dir, per_batch = args
    cfg_dict = dict(cfg_dict)
    cfg_dict["paddle_margins"] = tuple(cfg_dict["paddle_margins"])
    cfg = PathfinderConfig(**cfg_dict)
    done = []
    for i, label in zip(indices, labels):
        sample = generate_sample(cfg, int(label), (seed, int(i)))
        b, j = divmod(int(i), per_batch)
        Image.fromarray(sample.image, mode="L").save(Path(out_dir) / "imgs" / str(b) / f"sample_{j}.png")
        done.append((int(i), int(label)))
    return done


def write_pathfinder(
    root: PathLike,
    n_samples: int,
    config: PathfinderConfig = PATHFINDER32,
    *,
    seed: int = 0,
    num_workers: Optional[int] = None,
    images_per_batch: int = 1000,
    chunk_size: int = 64,
    progress: bool = True,
) -> Path:
    """Generate ``n_samples`` images in the official layout under ``root``; returns the dataset folder.

    Labels are exactly balanced (a seeded permutation of ``n_samples // 2`` ones, rest zeros); sample ``i`` uses
    the random stream ``(seed, i)``, so the output does not depend on ``num_workers``. Work is spread over
    ``num_workers`` processes (default: all CPUs; 0 = in this process) with a tqdm progress bar. The folder is
    written under a temporary name and renamed when complete.
    """
    from tqdm.auto import tqdm

    if n_samples < 2:
        raise ValueError(f"n_samples must be >= 2, got {n_samples}")
    if images_per_batch < 1:
        raise ValueError(f"images_per_batch must be >= 1, got {images_per_batch}")
    final = pathfinder_dir(root, config.image_size, config.contour_length)
    tmp = final.with_name(f"{final.name}.tmp{os.getpid()}")
    if tmp.exists():
        shutil.rmtree(tmp)
    n_batches = (n_samples + images_per_batch - 1) // images_per_batch
    for b in range(n_batches):
        (tmp / "imgs" / str(b)).mkdir(parents=True, exist_ok=True)
    (tmp / "metadata").mkdir(parents=True, exist_ok=True)
    labels = np.zeros(n_samples, dtype=np.int64)
    labels[: n_samples // 2] = 1
    labels = np.random.default_rng([seed, 0xC0FFEE]).permutation(labels)
    cfg_dict = config.to_dict()
    jobs = [
        (cfg_dict, seed, list(range(s, min(s + chunk_size, n_samples))), labels[s : s + chunk_size].tolist(),
         str(tmp), images_per_batch)
        for s in range(0, n_samples, chunk_size)
    ]
    workers = (os.cpu_count() or 1) if num_workers is None else num_workers
    bar = tqdm(total=n_samples, desc=f"pathfinder{config.image_size}", disable=not progress, unit="img")
    if workers == 0:
        for job in jobs:
            bar.update(len(_work_chunk(job)))
    else:
        with ProcessPoolExecutor(max_workers=workers) as ex:
            for res in ex.map(_work_chunk, jobs):
                bar.update(len(res))
    bar.close()
    for b in range(n_batches):
        lines = [
            f"imgs/{b} sample_{j}.png {j} {labels[b * images_per_batch + j]}\n"
            for j in range(min(images_per_batch, n_samples - b * images_per_batch))
        ]
        (tmp / "metadata" / f"{b}.npy").write_text("".join(lines))
    if final.exists():  # an earlier (or concurrent) run finished first: replace it with this complete copy
        shutil.rmtree(final, ignore_errors=True)
    try:
        tmp.rename(final)
    except OSError:  # a concurrent writer renamed its identical copy in between
        shutil.rmtree(tmp, ignore_errors=True)
    return final


def pathfinder_index(folder: PathLike) -> list[tuple[Path, int]]:
    """Parse ``<folder>/metadata/*.npy`` (plain text, despite the suffix) into ``[(image path, label)]``.

    Metadata files are read in numeric batch order. Lines: ``imgs/<batch> sample_<j>.png <j> <label> ...``.

    Raises:
        FileNotFoundError: if ``<folder>/metadata`` has no ``.npy`` files.
        ValueError: naming file and line for a line with fewer than 4 fields or a label other than 0/1.
    """
    folder = Path(folder)
    meta = folder / "metadata"
    files = sorted(meta.glob("*.npy"), key=lambda p: (0, int(p.stem)) if p.stem.isdigit() else (1, p.stem))
    if not files:
        raise FileNotFoundError(
            f"no metadata files found: expected {meta}/<batch>.npy (official Pathfinder layout "
            f"pathfinder<size>/curv_contour_length_14/{{imgs,metadata}})"
        )
    out: list[tuple[Path, int]] = []
    for mf in files:
        try:
            text = mf.read_text(encoding="utf-8")
        except UnicodeDecodeError:
            raise ValueError(f"{mf}: not a plain-text metadata file (expected lines 'imgs/<b> sample_<j>.png <j> "
                             "<label>')") from None
        for lineno, line in enumerate(text.splitlines(), 1):
            fields = line.split()
            if not fields:
                continue
            if len(fields) < 4:
                raise ValueError(f"{mf}:{lineno}: expected at least 4 space-separated fields "
                                 f"'imgs/<b> sample_<j>.png <j> <label>', got {line!r}")
            try:
                label = int(fields[3])
            except ValueError:
                raise ValueError(f"{mf}:{lineno}: label field {fields[3]!r} is not an integer") from None
            if label not in (0, 1):
                raise ValueError(f"{mf}:{lineno}: label {label} out of range (expected 0 or 1)")
            out.append((folder / fields[0] / fields[1], label))
    return out


def _read_one(path: Path, size: int) -> tuple[Optional[np.ndarray], str]:
    try:
        if path.stat().st_size == 0:
            return None, "empty file"
        with Image.open(path) as im:
            arr = np.asarray(im.convert("L"))
    except FileNotFoundError:
        return None, "missing file"
    except Exception as e:  # noqa: BLE001 -- PIL raises many types for corrupt data
        return None, f"unreadable image ({type(e).__name__}: {e})"
    if arr.shape != (size, size):
        return None, f"wrong size {arr.shape}, expected ({size}, {size})"
    return arr, ""


def _read_chunk(args: tuple) -> tuple[np.ndarray, list[int], list[str]]:
    paths, size = args
    imgs, ok, bad = [], [], []
    for i, p in enumerate(paths):
        arr, why = _read_one(Path(p), size)
        if arr is None:
            bad.append(f"{p}: {why}")
        else:
            imgs.append(arr.reshape(-1))
            ok.append(i)
    stack = np.stack(imgs) if imgs else np.zeros((0, size * size), np.uint8)
    return stack, ok, bad


def read_images(
    paths: list, size: int, *, num_workers: int = 0, chunk_size: int = 2000
) -> tuple[np.ndarray, np.ndarray]:
    """Decode grayscale PNGs into a (n_ok, size*size) uint8 array; returns (pixels, kept indices into ``paths``).

    Missing, empty, corrupt or wrongly sized files are skipped with one ``UserWarning`` that names them (the
    official release contains an empty image). Uses ``num_workers`` processes when > 0.
    """
    chunks = [(paths[s : s + chunk_size], size) for s in range(0, len(paths), chunk_size)]
    if num_workers > 0 and len(chunks) > 1:
        with ProcessPoolExecutor(max_workers=num_workers) as ex:
            results = list(ex.map(_read_chunk, chunks))
    else:
        results = [_read_chunk(c) for c in chunks]
    arrays, kept, bad = [], [], []
    for c, (arr, ok, b) in enumerate(results):
        arrays.append(arr)
        kept.extend(c * chunk_size + i for i in ok)
        bad.extend(b)
    if bad:
        shown = "; ".join(bad[:5]) + (f"; ... and {len(bad) - 5} more" if len(bad) > 5 else "")
        warnings.warn(f"skipped {len(bad)} Pathfinder image(s): {shown}", UserWarning, stacklevel=2)
    return np.concatenate(arrays), np.asarray(kept, dtype=np.int64)
