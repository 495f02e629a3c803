"""FAISS vector files: one immutable file per index generation, written atomically."""

from __future__ import annotations

import contextlib
import os
import re
from pathlib import Path
from typing import Any

import faiss
import numpy as np
import numpy.typing as npt

from index.errors import IndexCorruptError

Ids = npt.NDArray[np.int64]
# faiss's bundled type hints disagree with its SWIG wrappers (remove_ids takes arrays).
FaissIndex = Any
_FILE = re.compile(r"^vectors-(\d+)\.faiss$")


def empty(dim: int) -> FaissIndex:
    """An exact inner-product index whose ids survive deletes (IDMap2 can reconstruct)."""
    return faiss.IndexIDMap2(faiss.IndexFlatIP(dim))


def path_for(folder: Path, generation: int) -> Path:
    """Where generation's vectors live."""
    return folder / f"vectors-{generation}.faiss"


def write(index: FaissIndex, folder: Path, generation: int) -> Path:
    """Write index as generation's file: temp file, fsync, rename; never overwrites in place."""
    folder.mkdir(parents=True, exist_ok=True)
    final = path_for(folder, generation)
    temp = folder / f".{final.name}.{os.getpid()}.tmp"
    faiss.write_index(index, str(temp))
    with open(temp, "rb") as handle:
        os.fsync(handle.fileno())
    os.replace(temp, final)
    _fsync_dir(folder)
    return final


def read(folder: Path, generation: int) -> FaissIndex:
    """Load generation's vectors."""
    path = path_for(folder, generation)
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
