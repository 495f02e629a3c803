"""FAISS vector files: one immutable file per index generation, written atomically."""

from __future__ import annotations

import contextlib
import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import faiss
import numpy as np
import numpy.typing as npt

from index.embedding import Vectors
from index.errors import IndexCorruptError

Ids = npt.NDArray[np.int64]
# faiss's bundled type hints disagree with its SWIG wrappers (remove_ids takes arrays).
FaissIndex = Any
_FILE = re.compile(r"^(?:vectors|raw)-(\d+)\.faiss$")


def empty(dim: int) -> FaissIndex:
    """An exact inner-product index whose ids survive deletes (IDMap2 can reconstruct)."""
    return faiss.IndexIDMap2(faiss.IndexFlatIP(dim))


@dataclass(frozen=True, slots=True)
class ContextWeights:
    """How much of its article's title and neighbouring sentences a searched vector carries.

    A sentence alone often lacks what makes it the answer ("he said the talks would start
    there"); its title and neighbours supply it. The raw sentence vectors are kept as well.
    """

    # Chosen on the public training sets (scripts/fit_ranker.py); the ranker is fitted on
    # vectors built with these weights, so changing them means refitting and rebuilding.
    title: float = 0.3
    neighbour: float = 0.1

    def apply(self, sentences: Vectors, title: Vectors | None) -> Vectors:
        """Context vectors of one article's sentences, in reading order, unit length."""
        out = sentences.astype(np.float32, copy=True)
        if self.neighbour and len(sentences) > 1:
            out[1:] += self.neighbour * sentences[:-1]
            out[:-1] += self.neighbour * sentences[1:]
        if self.title and title is not None:
            out += self.title * title[None, :]
        norms = np.linalg.norm(out, axis=1, keepdims=True)
        result: Vectors = out / np.maximum(norms, 1e-9)
        return result


def path_for(folder: Path, generation: int, kind: str = "vectors") -> Path:
    """Where generation's vectors live: searched context vectors, or raw sentence vectors."""
    return folder / f"{kind}-{generation}.faiss"


def write(index: FaissIndex, folder: Path, generation: int, kind: str = "vectors") -> Path:
    """Write index as generation's file: temp file, fsync, rename; never overwrites in place."""
    folder.mkdir(parents=True, exist_ok=True)
    final = path_for(folder, generation, kind)
    temp = folder / f".{final.name}.{os.getpid()}.tmp"
    faiss.write_index(index, str(temp))
    with open(temp, "rb") as handle:
        os.fsync(handle.fileno())
    os.replace(temp, final)
    _fsync_dir(folder)
    return final


def read(folder: Path, generation: int, kind: str = "vectors") -> FaissIndex:
    """Load generation's vectors."""
    path = path_for(folder, generation, kind)
    try:
        loaded = faiss.read_index(str(path))
    except RuntimeError as exc:
        raise IndexCorruptError(f"cannot read {path}: {exc}") from exc
    if not isinstance(loaded, faiss.IndexIDMap2):
        loaded = faiss.downcast_index(loaded)
    return loaded


def remove_stale(folder: Path, keep: int) -> None:
    """Delete other generations' files and temp files left by crashed writers."""
    if not folder.is_dir():
        return
    for path in folder.iterdir():
        match = _FILE.match(path.name)
        stale = (match is not None and int(match.group(1)) != keep) or path.name.endswith(".tmp")
        if stale:
            with contextlib.suppress(FileNotFoundError):
                path.unlink()


def ids_array(ids: list[int]) -> Ids:
    """FAISS wants int64 ids."""
    return np.asarray(ids, dtype=np.int64)


def _fsync_dir(folder: Path) -> None:
    fd = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
