"""`loev bench search`: exact vs approximate FAISS search on synthetic embeddings at catalogue scale.

The vectors imitate learned embeddings rather than uniform noise (on which no ANN index works and
no real corpus looks like): 1000 clusters of Zipf-like sizes, each spread along its own 16-dim
subspace, plus isotropic noise, L2-normalised. Queries are fresh draws from the same distribution.
efSearch is tuned on a separate query set, then latency and recall@10 are measured on the
evaluation queries, one query at a time on one thread (the dashboard's case).
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path
from typing import Any

import faiss
import numpy as np

from loev_core.embeddings.index import IndexParams, make_index

EF_CANDIDATES = (16, 24, 32, 48, 64, 96, 128, 192, 256, 384, 512)


class Synthetic:
    """A fixed mixture of anisotropic clusters on the unit sphere; `draw(n, seed)` samples from it."""

    def __init__(self, dim: int = 128, clusters: int = 1000, local_dim: int = 16, seed: int = 0) -> None:
        rng = np.random.default_rng(seed)
        self.centers = rng.standard_normal((clusters, dim)).astype(np.float32)
        self.centers /= np.linalg.norm(self.centers, axis=1, keepdims=True)
        self.bases = np.linalg.qr(rng.standard_normal((clusters, dim, local_dim)))[0].transpose(0, 2, 1)
        self.bases = self.bases.astype(np.float32)
        self.spread = rng.uniform(0.3, 0.8, clusters).astype(np.float32)
        w = 1.0 / np.arange(1, clusters + 1) ** 0.7
        self.weights = w / w.sum()

    def draw(self, n: int, seed: int) -> np.ndarray:
        rng = np.random.default_rng(seed)
        k, local = self.bases.shape[0], self.bases.shape[1]
        counts = np.bincount(rng.choice(k, n, p=self.weights), minlength=k)
        x = np.empty((n, self.centers.shape[1]), np.float32)
        start = 0
        for c, m in enumerate(counts):
            z = rng.standard_normal((m, local), dtype=np.float32)
            x[start:start + m] = self.centers[c] + (self.spread[c] / np.sqrt(local)) * (z @ self.bases[c])
            start += m
        x += 0.05 * rng.standard_normal(x.shape, dtype=np.float32)
        x /= np.linalg.norm(x, axis=1, keepdims=True)
        return x[rng.permutation(n)]


def index_bytes(index: faiss.Index) -> int:
    """Serialized size, which is what the index holds in memory (vectors + graph / lists)."""
    with tempfile.TemporaryDirectory() as d:
        path = Path(d) / "index.faiss"
        faiss.write_index(index, str(path))
        return path.stat().st_size


def latencies_ms(index: faiss.Index, queries: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """One query at a time, single thread: per-query milliseconds and the ids found."""
    faiss.omp_set_num_threads(1)
    ids = np.empty((len(queries), k), np.int64)
    times = np.empty(len(queries))
    for i in range(len(queries)):
        q = queries[i:i + 1]
        t = time.perf_counter()
        _, ids[i] = index.search(q, k)
        times[i] = time.perf_counter() - t
    return times * 1e3, ids


def recall(found: np.ndarray, truth: np.ndarray) -> float:
    k = truth.shape[1]
    return float(np.mean([len(set(a) & set(b)) / k for a, b in zip(found, truth, strict=True)]))


def _stats(times: np.ndarray) -> dict[str, float]:
    return {"p50_ms": round(float(np.percentile(times, 50)), 4), "p99_ms": round(float(np.percentile(times, 99)), 4),
            "mean_ms": round(float(times.mean()), 4)}


def _tune_ef(index: faiss.Index, tune_q: np.ndarray, tune_truth: np.ndarray, k: int, target: float) -> int:
    """Smallest efSearch whose recall on the tuning queries reaches `target`."""
    faiss.omp_set_num_threads(1)
    for ef in EF_CANDIDATES:
        if ef < k:
            continue
        index.hnsw.efSearch = ef
        if recall(index.search(tune_q, k)[1], tune_truth) >= target:
            return ef
    return EF_CANDIDATES[-1]


def bench_size(gen: Synthetic, n: int, args: argparse.Namespace, threads: int) -> dict[str, Any]:
    k = args.k
    t = time.perf_counter()
    x = gen.draw(n, seed=1)
    queries, tune_q = gen.draw(args.queries, seed=2), gen.draw(args.tune_queries, seed=3)
    out: dict[str, Any] = {"n": n, "dim": x.shape[1], "generate_s": round(time.perf_counter() - t, 2)}
    faiss.omp_set_num_threads(threads)
    t = time.perf_counter()
    exact = make_index(x, "flat")
    build = time.perf_counter() - t
    faiss.omp_set_num_threads(threads)
    _, truth = exact.search(queries, k)
    _, tune_truth = exact.search(tune_q, k)
    times, _ = latencies_ms(exact, queries, k)
    out["exact"] = {"type": "IndexFlatIP", "build_s": round(build, 3), "index_bytes": index_bytes(exact),
                    **_stats(times), "recall_at_10": 1.0}
    del exact
    params = IndexParams(hnsw_m=args.hnsw_m, ef_construction=args.ef_construction, ivf_nprobe=args.nprobe)
    faiss.omp_set_num_threads(threads)
    t = time.perf_counter()
    approx = make_index(x, args.approx, params)
    build = time.perf_counter() - t
    info: dict[str, Any] = {"type": type(approx).__name__, "build_s": round(build, 2), "build_threads": threads}
    if args.approx == "hnsw":
        ef = args.ef_search or _tune_ef(approx, tune_q, tune_truth, k, args.tune_target)
        approx.hnsw.efSearch = ef
        info.update(M=args.hnsw_m, ef_construction=args.ef_construction, ef_search=ef)
    else:
        info.update(nlist=approx.nlist, nprobe=approx.nprobe)
    times, found = latencies_ms(approx, queries, k)
    info.update(index_bytes=index_bytes(approx), **_stats(times), recall_at_10=round(recall(found, truth), 4))
    out["approx"] = info
    return out


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--sizes", default="100000,1000000", help="comma-separated index sizes")
    parser.add_argument("--queries", type=int, default=1000, help="evaluation queries (latency, recall)")
    parser.add_argument("--tune-queries", type=int, default=200, help="separate queries to tune efSearch")
    parser.add_argument("--tune-target", type=float, default=0.96, help="recall@10 efSearch is tuned to reach")
    parser.add_argument("-k", type=int, default=10)
    parser.add_argument("--approx", choices=("hnsw", "ivf"), default="hnsw")
    parser.add_argument("--hnsw-m", type=int, default=IndexParams.hnsw_m)
    parser.add_argument("--ef-construction", type=int, default=IndexParams.ef_construction)
    parser.add_argument("--ef-search", type=int, default=None, help="fixed efSearch (default: tuned)")
    parser.add_argument("--nprobe", type=int, default=IndexParams.ivf_nprobe)
    parser.add_argument("--threads", type=int, default=None, help="build threads (default: all cores)")


def measure(args: argparse.Namespace) -> dict[str, Any]:
    threads = args.threads or faiss.omp_get_max_threads()
    gen = Synthetic()
    runs = [bench_size(gen, int(s), args, threads) for s in args.sizes.split(",") if s.strip()]
    by_n = {r["n"]: r for r in runs}
    one_m, hundred_k = by_n.get(1_000_000), by_n.get(100_000)
    return {
        "approx_1m_p50_ms": one_m["approx"]["p50_ms"] if one_m else None,
        "approx_1m_recall_at_10": one_m["approx"]["recall_at_10"] if one_m else None,
        "exact_100k_p50_ms": hundred_k["exact"]["p50_ms"] if hundred_k else None,
        "targets": {"exact_100k_p50_ms": 20.0, "approx_1m_p50_ms": 2.0, "approx_1m_recall_at_10": 0.95},
        "search_threads": 1, "queries": args.queries, "faiss": faiss.__version__, "runs": runs,
    }
