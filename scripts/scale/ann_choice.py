"""Which approximate index for large segments: IVF-SQ8 against HNSW, measured.

Reads the exact context vectors that `newsqa bench --scale N` keeps beside its cached index
(`<data dir>/bench/scale-N/exact-context.npy`), takes 200 of them perturbed as queries, and
prints for each candidate: build seconds, bytes on disk, ms per query (one thread) and recall@50
against exact search.

    python scripts/scale/ann_choice.py ~/.local/share/newsqa/bench/scale-100000 [FIRST_N]
"""

from __future__ import annotations

import os
import sys
import tempfile
import time
from pathlib import Path

import faiss
import numpy as np

from index import segments


def main(folder: Path, limit: int | None = None) -> None:
    faiss.omp_set_num_threads(1)
    vectors = np.load(folder / "exact-context.npy", mmap_mode="r")[:limit].astype(np.float32)
    n, dim = vectors.shape
    rng = np.random.default_rng(0)
    queries = vectors[rng.choice(n, 200, replace=False)] + rng.normal(0, 0.05, (200, dim))
    queries = (queries / np.linalg.norm(queries, axis=1, keepdims=True)).astype(np.float32)
    exact = faiss.IndexFlatIP(dim)
    exact.add(vectors)
    _, truth = exact.search(queries, 50)

    def ivf() -> faiss.Index:
        return segments.build_ann(vectors)  # what the product builds

    def hnsw_sq() -> faiss.Index:
        index = faiss.IndexHNSWSQ(
            dim, faiss.ScalarQuantizer.QT_8bit, 32, faiss.METRIC_INNER_PRODUCT
        )
        index.hnsw.efConstruction = 80
        index.train(vectors[: min(n, 50_000)])
        index.add(vectors)
        return index

    def hnsw_flat() -> faiss.Index:
        index = faiss.IndexHNSWFlat(dim, 32, faiss.METRIC_INNER_PRODUCT)
        index.hnsw.efConstruction = 80
        index.add(vectors)
        return index

    print(f"n={n} dim={dim} (load: {os.getloadavg()[0]:.1f})")
    for name, make, knobs in (
        ("ivf-sq8", ivf, [("nprobe", v) for v in (16, 32, 48, 64)]),
        ("hnsw-sq8", hnsw_sq, [("efSearch", v) for v in (64, 128)]),
        ("hnsw-flat", hnsw_flat, [("efSearch", v) for v in (64, 128)]),
    ):
        started = time.perf_counter()
        faiss.omp_set_num_threads(2)
        index = make()
        faiss.omp_set_num_threads(1)
        built = time.perf_counter() - started
        with tempfile.NamedTemporaryFile() as handle:
            faiss.write_index(index, handle.name)
            size = Path(handle.name).stat().st_size
        for knob, value in knobs:
            if knob == "nprobe":
                index.nprobe = value
            else:
                index.hnsw.efSearch = value
            started = time.perf_counter()
            _, found = index.search(queries, 50)
            per_query = (time.perf_counter() - started) / len(queries) * 1000
            recall = np.mean([len(set(f) & set(t)) / 50 for f, t in zip(found, truth, strict=True)])
            print(
                f"{name:10s} {knob}={value:<4d} build {built:6.1f} s  {size / 1e6:7.1f} MB  "
                f"{per_query:6.2f} ms/query  recall@50 {recall:.3f}"
            )


if __name__ == "__main__":
    main(Path(sys.argv[1]), int(sys.argv[2]) if len(sys.argv) > 2 else None)
