"""Vector segments: immutable files of sentence vectors, searched together as one snapshot.

A segment holds the vectors of the sentences one write added: their ids (sorted) and their own
vectors (8-bit codes with a scale per vector, memory-mapped; half precision in segments written
before schema 3), and their searched context vectors: half precision and
searched exactly while the segment is small; once it is large, only as the 8-bit codes of an
approximate index (IVF with scalar quantisation, memory-mapped too), which also decodes them.
A segment is written completely before the catalog lists it, and never changed afterwards; a
deleted sentence's vector stays in its segment as a tombstone, skipped by search, until
compaction writes the survivors into a new segment.
"""

from __future__ import annotations

import contextlib
import math
import os
import re
import signal
from collections.abc import Collection, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import faiss
import numpy as np
import numpy.typing as npt

from index import quantize
from index.embedding import Vectors
from index.errors import IndexCorruptError

Ids = npt.NDArray[np.int64]
# faiss's bundled type hints disagree with its SWIG wrappers.
FaissIndex = Any
FOLDER = "segments"
FILE_MODE = 0o600
_FILE = re.compile(r"^(\d+)\.(ids\.npy|raw\.npy|scale\.npy|ctx\.npy|ann\.faiss)$")
_TEMP = re.compile(r"^\.(\d+)\..*\.tmp$")
# Below this many vectors a segment is searched exactly (a few ms); above it through its
# approximate index. Chosen with `newsqa bench --scale` (README, "Scale").
ANN_MIN = 50_000
# IVF cells probed per question: recall@50 against exact search >= 0.95 at 1M (README).
NPROBE = 48
# A scoped search over at most this many sentences is done exactly on their vectors.
EXACT_SCOPE_MAX = 20_000

# The crash tests (tests/test_crash.py) set this to kill a write at one named point.
CRASH_ENV = "NEWSQA_TEST_CRASH_AT"


def crash_point(point: str) -> None:
    """Die here, at once and uncleanly, when the crash tests ask for it."""
    if os.environ.get(CRASH_ENV) == point:
        os.kill(os.getpid(), signal.SIGKILL)


def path_of(folder: Path, segment_id: int, part: str) -> Path:
    """Where one part of a segment lives."""
    return folder / f"{segment_id}.{part}"


def segment_of(path: Path) -> int | None:
    """The segment id a file in the segment folder belongs to (temp files included)."""
    match = _FILE.match(path.name) or _TEMP.match(path.name)
    return None if match is None else int(match.group(1))


def _fsync_dir(folder: Path) -> None:
    fd = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


@contextlib.contextmanager
def _atomic(final: Path) -> Iterator[Path]:
    """Write to a temp file, fsync, rename over final; the temp file goes on failure."""
    temp = final.with_name(f".{final.name}.{os.getpid()}.tmp")
    os.close(os.open(temp, os.O_CREAT | os.O_WRONLY | os.O_TRUNC, FILE_MODE))
    try:
        yield temp
        with open(temp, "rb") as handle:
            os.fsync(handle.fileno())
        os.replace(temp, final)
    finally:
        with contextlib.suppress(FileNotFoundError):
            temp.unlink()


def _save(path: Path, array: npt.NDArray[Any]) -> None:
    """np.save's format, written through Python's file object: numpy's own writer reports a
    full disk as a short write without errno, this raises OSError(ENOSPC)."""
    array = np.ascontiguousarray(array)
    with _atomic(path) as temp, open(temp, "wb") as handle:
        np.lib.format.write_array_header_1_0(
            handle, np.lib.format.header_data_from_array_1_0(array)
        )
        handle.write(array.data)


def _quantize(raw: npt.NDArray[Any]) -> tuple[quantize.Codes, quantize.Scales]:
    """8-bit codes and scales of the sentences' own vectors, a block at a time (a merge hands
    over a million of them in half precision)."""
    codes = np.empty(raw.shape, dtype=np.int8)
    scales = np.empty(len(raw), dtype=np.float32)
    for first in range(0, len(raw), 100_000):
        codes[first : first + 100_000], scales[first : first + 100_000] = quantize.encode(
            raw[first : first + 100_000]
        )
    return codes, scales


def build_ann(context: npt.NDArray[Any], seed: int = 0) -> FaissIndex:
    """An IVF index with 8-bit scalar quantisation over unit vectors, keyed by row.

    Rows, not sentence ids, so that the map from key to vector is a plain array: memory-mapped
    with the rest, where a hash table of a million ids would cost hundreds of MB in memory.
    """
    n, dim = context.shape
    # 2 sqrt(n) cells trained for 10 rounds on 30 points each: a million vectors train in
    # minutes on 2 cores; recall is recovered by probing more cells (NPROBE, measured).
    cells = max(16, int(2 * math.sqrt(n)))
    quantizer = faiss.IndexFlatIP(dim)
    index = faiss.IndexIVFScalarQuantizer(
        quantizer, dim, cells, faiss.ScalarQuantizer.QT_8bit, faiss.METRIC_INNER_PRODUCT
    )
    rng = np.random.default_rng(seed)
    sample = np.sort(rng.choice(n, size=min(n, 30 * cells), replace=False))
    index.cp.seed = seed
    index.cp.niter = 10
    index.train(np.ascontiguousarray(context[sample], dtype=np.float32))
    for first in range(0, n, 100_000):
        index.add(np.ascontiguousarray(context[first : first + 100_000], dtype=np.float32))
    index.set_direct_map_type(faiss.DirectMap.Array)  # type: ignore[attr-defined]
    return index


def write(
    folder: Path,
    segment_id: int,
    ids: Ids,
    raw: npt.NDArray[Any],
    context: npt.NDArray[Any],
    *,
    ann: bool | None = None,
) -> int:
    """Write a segment's files (ids sorted by the caller); returns the bytes written.

    Whatever this wrote is removed again if it fails (a full disk), so only files of
    committed segments and of a write in progress ever stay in the folder.
    """
    folder.mkdir(mode=0o700, parents=True, exist_ok=True)
    if len(ids) and not bool(np.all(ids[1:] > ids[:-1])):
        raise ValueError("segment ids must be strictly increasing")
    use_ann = len(ids) >= ANN_MIN if ann is None else ann
    try:
        _save(path_of(folder, segment_id, "ids.npy"), ids.astype(np.int64))
        crash_point("segment-ids")
        codes, scales = _quantize(raw)
        _save(path_of(folder, segment_id, "scale.npy"), scales)
        _save(path_of(folder, segment_id, "raw.npy"), codes)
        crash_point("segment-raw")
        if use_ann:
            index = build_ann(context)
            with _atomic(path_of(folder, segment_id, "ann.faiss")) as temp:
                faiss.write_index(index, str(temp))
        else:
            _save(path_of(folder, segment_id, "ctx.npy"), np.asarray(context, dtype=np.float16))
        _fsync_dir(folder)
    except BaseException:
        delete(folder, [segment_id])
        raise
    crash_point("segment-written")
    return sum(
        p.stat().st_size for p in folder.iterdir() if p.is_file() and segment_of(p) == segment_id
    )


def delete(folder: Path, segment_ids: Collection[int]) -> None:
    """Remove segments' files (and their temp files)."""
    if not folder.is_dir():
        return
    for path in folder.iterdir():
        if segment_of(path) in segment_ids:
            with contextlib.suppress(FileNotFoundError):
                path.unlink()


def remove_orphans(folder: Path, live: Collection[int]) -> list[Path]:
    """Delete files of segments the catalog does not list: left by a killed or failed write,
    or by a compaction whose old segments were still open. Only a writer may call this."""
    removed: list[Path] = []
    if not folder.is_dir():
        return removed
    for path in folder.iterdir():
        segment = segment_of(path)
        if (segment is None and path.name.endswith(".tmp")) or (
            segment is not None and segment not in live
        ):
            with contextlib.suppress(FileNotFoundError):
                path.unlink()
                removed.append(path)
    return removed


@dataclass(frozen=True, slots=True)
class Segment:
    """One opened segment. Its files may be unlinked once a newer snapshot is live: the maps
    keep what this snapshot needs."""

    id: int
    ids: Ids
    raw: npt.NDArray[Any]  # int8 codes, or float16 in a segment from before schema 3
    scales: npt.NDArray[np.float32] | None  # one per row of 8-bit codes
    flat: Vectors | None  # context vectors in memory, for exact search of a small segment
    ann: FaissIndex | None

    @classmethod
    def open(cls, folder: Path, segment_id: int, ann: bool) -> Segment:
        """Map a segment's files."""
        try:
            ids = np.load(path_of(folder, segment_id, "ids.npy"), allow_pickle=False)
            raw = np.load(path_of(folder, segment_id, "raw.npy"), mmap_mode="r")
            scales = None
            if raw.dtype == np.int8:
                scales = np.load(path_of(folder, segment_id, "scale.npy"), allow_pickle=False)
            elif raw.dtype != np.float16:
                raise ValueError(f"sentence vectors of type {raw.dtype}")
            index: FaissIndex | None = None
            flat = None
            if ann:
                loaded: FaissIndex = faiss.read_index(
                    str(path_of(folder, segment_id, "ann.faiss")), faiss.IO_FLAG_MMAP
                )
                loaded.nprobe = NPROBE
                size = int(loaded.ntotal)
                index = loaded
            else:
                context = np.load(path_of(folder, segment_id, "ctx.npy"), mmap_mode="r")
                flat = np.asarray(context, dtype=np.float32)
                size = len(flat)
        except (OSError, ValueError, RuntimeError) as exc:
            raise IndexCorruptError(f"cannot read vector segment {segment_id}: {exc}") from exc
        if not (len(ids) == len(raw) == size) or (scales is not None and len(scales) != size):
            raise IndexCorruptError(f"vector segment {segment_id} has parts of different sizes")
        return cls(segment_id, np.asarray(ids), raw, scales, flat, index)

    def positions(self, ids: Ids) -> tuple[npt.NDArray[np.bool_], npt.NDArray[np.intp]]:
        """Which of ids this segment holds, and where."""
        if not len(self.ids):
            return np.zeros(len(ids), dtype=bool), np.zeros(len(ids), dtype=np.intp)
        at = np.searchsorted(self.ids, ids)
        clipped = np.minimum(at, len(self.ids) - 1)
        return self.ids[clipped] == ids, clipped

    def raw_rows(self, rows: npt.NDArray[np.intp]) -> Vectors:
        """The sentences' own vectors of rows."""
        if self.scales is None:
            return np.asarray(self.raw[rows], dtype=np.float32)
        return quantize.decode(self.raw[rows], self.scales[rows])

    def context_rows(self, rows: npt.NDArray[np.intp]) -> Vectors:
        """Context vectors of rows (decoded from the approximate index's codes when large)."""
        if self.flat is not None:
            return self.flat[rows]
        assert self.ann is not None
        out: Vectors = self.ann.reconstruct_batch(np.asarray(rows, dtype=np.int64))
        return out

    def context_block(self, first: int, last: int) -> Vectors:
        """Context vectors of a run of rows."""
        if self.flat is not None:
            return self.flat[first:last]
        assert self.ann is not None
        out: Vectors = self.ann.reconstruct_n(first, last - first)
        return out

    def live(self, dead: Ids) -> tuple[Ids, npt.NDArray[np.float16], npt.NDArray[np.float16], Ids]:
        """Ids, sentence and context vectors (half precision) of the rows not deleted, and the
        deleted ids; read in blocks, so a large segment never exists in single precision."""
        alive = ~np.isin(self.ids, dead) if len(dead) else np.ones(len(self.ids), dtype=bool)
        rows = np.flatnonzero(alive)
        context = np.empty((len(rows), self.raw.shape[1]), dtype=np.float16)
        raw = np.empty((len(rows), self.raw.shape[1]), dtype=np.float16)
        for first in range(0, len(rows), 100_000):
            block = rows[first : first + 100_000]
            context[first : first + len(block)] = self.context_rows(block)
            raw[first : first + len(block)] = self.raw_rows(block)
        return self.ids[rows], raw, context, self.ids[~alive]

    def search(
        self, query: Vectors, k: int, dead: Ids, allowed: Ids | None
    ) -> list[tuple[int, float]]:
        """The k best live sentences of this segment."""
        if self.ann is None:
            assert self.flat is not None
            scores = self.flat @ query
            if len(dead):
                hit, at = self.positions(dead)
                scores[at[hit]] = -np.inf
            if allowed is not None:
                scores[~np.isin(self.ids, allowed)] = -np.inf
            k = min(k, len(scores))
            if k == 0:
                return []
            top = np.argpartition(-scores, k - 1)[:k]
            return [(int(self.ids[i]), float(scores[i])) for i in top if np.isfinite(scores[i])]
        # The approximate index is keyed by row: select rows, not sentence ids.
        selectors: list[Any] = []
        if len(dead):
            hit, at = self.positions(dead)
            selectors.append(faiss.IDSelectorNot(faiss.IDSelectorBatch(at[hit].astype(np.int64))))
        if allowed is not None:
            hit, at = self.positions(allowed)
            selectors.append(faiss.IDSelectorBatch(at[hit].astype(np.int64)))
        selector = None
        if len(selectors) == 2:
            selector = faiss.IDSelectorAnd(selectors[0], selectors[1])
        elif selectors:
            selector = selectors[0]
        params = faiss.SearchParametersIVF(sel=selector, nprobe=NPROBE)  # type: ignore[call-arg]
        scores, rows = self.ann.search(query.reshape(1, -1), k, params=params)
        return [
            (int(self.ids[row]), float(score))
            for row, score in zip(rows[0], scores[0], strict=True)
            if row >= 0
        ]


@dataclass(frozen=True, slots=True)
class Snapshot:
    """The segments and deletions of one committed generation."""

    generation: int
    dim: int
    segments: tuple[Segment, ...]
    dead: Ids  # sorted tombstoned sentence ids

    @property
    def count(self) -> int:
        """Live vectors."""
        return sum(len(s.ids) for s in self.segments) - len(self.dead)

    def _dead_in(self, segment: Segment) -> Ids:
        if not len(self.dead):
            return self.dead
        hit, _ = segment.positions(self.dead)
        return self.dead[hit]

    def search(
        self, query: Vectors, k: int, scope: Sequence[int] | None = None
    ) -> list[tuple[int, float]]:
        """Sentence ids and cosine similarities of the k nearest live vectors, best first.

        A scope (sentence ids) small enough is searched exactly on its own vectors.
        """
        query = np.ascontiguousarray(query, dtype=np.float32).reshape(-1)
        allowed: Ids | None = None
        if scope is not None:
            wanted = np.unique(np.asarray(list(scope), dtype=np.int64))
            if len(self.dead):
                wanted = wanted[~np.isin(wanted, self.dead)]
            if len(wanted) <= EXACT_SCOPE_MAX:
                present, vectors = self.vectors_present(wanted, context=True)
                if not len(present):
                    return []
                scores = vectors @ query
                order = np.argsort(-scores, kind="stable")[:k]
                return [(int(present[i]), float(scores[i])) for i in order]
            allowed = wanted
        found: list[tuple[int, float]] = []
        for segment in self.segments:
            found.extend(segment.search(query, k, self._dead_in(segment), allowed))
        found.sort(key=lambda pair: (-pair[1], pair[0]))
        return found[:k]

    def exact_search(self, query: Vectors, k: int) -> list[tuple[int, float]]:
        """Exact search over every live vector, whatever the segments' size (for measuring)."""
        query = np.ascontiguousarray(query, dtype=np.float32).reshape(-1)
        found: list[tuple[int, float]] = []
        for segment in self.segments:
            dead = self._dead_in(segment)
            for first in range(0, len(segment.ids), 200_000):
                last = min(first + 200_000, len(segment.ids))
                scores = segment.context_block(first, last) @ query
                ids = segment.ids[first : first + 200_000]
                if len(dead):
                    scores[np.isin(ids, dead)] = -np.inf
                top = np.argpartition(-scores, min(k, len(scores)) - 1)[:k]
                found.extend((int(ids[i]), float(scores[i])) for i in top)
        found.sort(key=lambda pair: (-pair[1], pair[0]))
        return found[:k]

    def vectors_present(self, ids: Ids, *, context: bool) -> tuple[Ids, Vectors]:
        """The vectors of those of ids that some segment holds, with those ids."""
        out = np.zeros((len(ids), self.dim), dtype=np.float32)
        seen = np.zeros(len(ids), dtype=bool)
        for segment in self.segments:
            hit, at = segment.positions(ids)
            if hit.any():
                out[hit] = segment.context_rows(at[hit]) if context else segment.raw_rows(at[hit])
                seen |= hit
        return ids[seen], out[seen]

    def vectors(self, ids: Sequence[int], *, context: bool) -> Vectors:
        """Vectors in the order given (zeros for an id no segment holds)."""
        wanted = np.asarray(list(ids), dtype=np.int64)
        out = np.zeros((len(wanted), self.dim), dtype=np.float32)
        for segment in self.segments:
            hit, at = segment.positions(wanted)
            if hit.any():
                out[hit] = segment.context_rows(at[hit]) if context else segment.raw_rows(at[hit])
        return out
