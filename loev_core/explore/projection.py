"""2-D maps of a subspace (UMAP, PCA, t-SNE) that come back identical every time.

Seeds are fixed and each map is stored on disk under a key made of the checkpoint hash, the corpus
hash, the subspace, the method and the sample, so a restart, a second user or a bookmark sees the
same picture without recomputing it. Big corpora are mapped on a fixed random sample (search still
uses every item). Two maps are made comparable by Procrustes alignment, and new points (a clip's
augmentation trajectory) are placed on an existing map by their nearest corpus neighbours.
"""

from __future__ import annotations

import hashlib
import json
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from loev_core.files import atomic_write_bytes

METHODS = ("UMAP", "PCA", "t-SNE")
MAX_POINTS = 20_000  # points drawn on a map; bigger corpora are sampled
MAX_TSNE_POINTS = 5_000  # t-SNE is O(N log N) with a big constant: sample harder
SEED = 0
PCA_DIMS = 50  # UMAP neighbours are found after PCA to this many dimensions


def sample_rows(n: int, max_points: int = MAX_POINTS, seed: int = SEED) -> np.ndarray:
    """Sorted row ids to draw: all rows, or a fixed random sample of `max_points`."""
    if n <= max_points:
        return np.arange(n)
    return np.sort(np.random.default_rng(seed).choice(n, size=max_points, replace=False))


def point_budget(method: str, max_points: int = MAX_POINTS) -> int:
    return min(max_points, MAX_TSNE_POINTS) if method == "t-SNE" else max_points


def compute_projection(x: np.ndarray, method: str, seed: int = SEED) -> np.ndarray:
    """[N, D] unit vectors -> [N, 2] float32 coordinates (deterministic for a given seed)."""
    x = np.ascontiguousarray(x, dtype=np.float32)
    n = len(x)
    if method not in METHODS:
        raise ValueError(f"unknown projection method {method!r}; choose one of {', '.join(METHODS)}")
    if n < 3:
        return np.column_stack([np.arange(n, dtype=np.float32), np.zeros(n, np.float32)])
    if method == "PCA" or n < 6:
        from sklearn.decomposition import PCA

        out = PCA(n_components=2, random_state=seed).fit_transform(x)
    elif method == "UMAP":
        out = _umap(x, seed)
    else:
        from sklearn.manifold import TSNE

        out = TSNE(n_components=2, perplexity=min(30.0, (n - 1) / 3), init="pca", random_state=seed,
                   max_iter=750).fit_transform(x)
    return np.asarray(out, dtype=np.float32)


def _umap(x: np.ndarray, seed: int) -> np.ndarray:
    """UMAP on exact neighbours from FAISS (after PCA to 50 dims when wider).

    UMAP's own neighbour search switches to pynndescent above 4,096 points, whose numba code is
    compiled anew in every process (about 40 s here); exact FAISS neighbours skip it, are
    deterministic, and take about a second for 20,000 points."""
    import faiss
    import umap
    from sklearn.decomposition import PCA

    n, d = x.shape
    k = min(15, n - 1)
    if d > PCA_DIMS and n > PCA_DIMS:
        x = PCA(n_components=PCA_DIMS, random_state=seed).fit_transform(x).astype(np.float32)
    x = np.ascontiguousarray(x, dtype=np.float32)
    index = faiss.IndexFlatL2(x.shape[1])
    index.add(x)
    dist, idx = index.search(x, k)  # each point's own row comes first, as UMAP expects
    knn = (idx.astype(np.int64), np.sqrt(np.maximum(dist, 0.0)).astype(np.float32))
    reducer = umap.UMAP(n_components=2, n_neighbors=k, min_dist=0.1, random_state=seed, n_jobs=1,
                        init="spectral" if n > 20 else "random", n_epochs=200 if n > 2000 else None,
                        precomputed_knn=knn)
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=".*knn_search_index.*")  # we never call .transform
        return reducer.fit_transform(x)


def projection_key(*parts: object) -> str:
    return hashlib.sha256(json.dumps([str(p) for p in parts]).encode()).hexdigest()[:20]


def stored_projection(cache_dir: Path, key_parts: tuple,
                      compute: Callable[[], tuple[np.ndarray, np.ndarray]] | None
                      ) -> tuple[np.ndarray, np.ndarray] | None:
    """(rows, coords) from `cache_dir`, or computed by `compute()` and stored there atomically (None
    when it is not stored and `compute` is None)."""
    path = Path(cache_dir) / f"proj-{projection_key(*key_parts)}.npz"
    if path.is_file():
        try:
            with np.load(path, allow_pickle=False) as z:
                return z["rows"], z["coords"]
        except (OSError, ValueError, KeyError):
            path.unlink(missing_ok=True)  # a damaged cache entry is recomputed, never trusted
    if compute is None:
        return None
    rows, coords = compute()
    atomic_write_bytes(path, lambda f: np.savez(f, rows=rows, coords=coords, key=json.dumps(list(map(str, key_parts)))))
    return rows, coords


def corpus_map(data: Any, subspace: str, method: str, cache_dir: Path, max_points: int = MAX_POINTS,
               stored_only: bool = False) -> tuple[np.ndarray, np.ndarray] | None:
    """(rows, coords) of one subspace of a corpus (a `CorpusData`), stored in `cache_dir` under its
    checkpoint and corpus hashes; with `stored_only`, None when it is not there yet (nothing computed)."""
    def compute() -> tuple[np.ndarray, np.ndarray]:
        rows = sample_rows(len(data), point_budget(method, max_points))
        return rows, compute_projection(data.vectors(subspace, rows), method)

    return stored_projection(cache_dir, (data.key, subspace, method, f"seed{SEED}", max_points),
                             None if stored_only else compute)


def procrustes_align(reference: np.ndarray, other: np.ndarray) -> tuple[np.ndarray, float]:
    """Rotate/reflect, scale and shift `other` [N, 2] onto `reference` [N, 2] (same rows).

    Returns the aligned copy in the reference's units and the disparity (0 = same shape, 1 = unrelated),
    so the same clip sits in comparable places on two maps.
    """
    from scipy.linalg import orthogonal_procrustes

    a = np.asarray(reference, np.float64)
    b = np.asarray(other, np.float64)
    if a.shape != b.shape or a.ndim != 2:
        raise ValueError(f"procrustes needs two maps of the same points, got {a.shape} and {b.shape}")
    ma, mb = a.mean(0), b.mean(0)
    a0, b0 = a - ma, b - mb
    na, nb = np.linalg.norm(a0), np.linalg.norm(b0)
    if na == 0 or nb == 0:
        return np.tile(ma, (len(a), 1)).astype(np.float32), 1.0
    r, s = orthogonal_procrustes(b0 / nb, a0 / na)
    aligned_unit = (b0 / nb) @ r * s
    disparity = float(np.sum((a0 / na - aligned_unit) ** 2))
    return (aligned_unit * na + ma).astype(np.float32), disparity


def place_points(x_new: np.ndarray, x_ref: np.ndarray, coords_ref: np.ndarray, k: int = 8) -> np.ndarray:
    """Coordinates for new unit vectors on an existing map: similarity-weighted mean of the 2-D
    positions of their k nearest reference points. Works for every method (t-SNE has no transform)."""
    sims = np.asarray(x_new, np.float32) @ np.asarray(x_ref, np.float32).T
    k = min(k, sims.shape[1])
    top = np.argpartition(-sims, k - 1, axis=1)[:, :k]
    s = np.take_along_axis(sims, top, axis=1)
    w = np.exp((s - s.max(axis=1, keepdims=True)) / 0.05)
    w /= w.sum(axis=1, keepdims=True)
    return np.einsum("nk,nkd->nd", w, coords_ref[top]).astype(np.float32)
