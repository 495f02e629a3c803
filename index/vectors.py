"""Context weights of searched vectors; reading the FAISS files of the layout before segments."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from index.embedding import Vectors
from index.errors import IndexCorruptError


@dataclass(frozen=True, slots=True)
class ContextWeights:
    """How much of its article's title and neighbouring sentences a searched vector carries.

    A sentence alone often lacks what makes it the answer ("he said the talks would start
    there"); its title and neighbours supply it. The raw sentence vectors are kept as well.
    """

    # Chosen by a grid on the public training sets; the ranker (qa/fitting) is fitted on
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


def read_generation(
    folder: Path, generation: int
) -> tuple[npt.NDArray[np.int64], Vectors, Vectors] | None:
    """Ids, sentence vectors and context vectors of an index written before segments (one
    `IndexIDMap2` file of each per generation), or None when there is none."""
    import faiss

    context_path = folder / f"vectors-{generation}.faiss"
    raw_path = folder / f"raw-{generation}.faiss"
    if not context_path.is_file() or not raw_path.is_file():
        return None
    try:
        context: Any = faiss.read_index(str(context_path))
        raw: Any = faiss.read_index(str(raw_path))
    except RuntimeError as exc:
        raise IndexCorruptError(f"cannot read {context_path}: {exc}") from exc
    ids = faiss.vector_to_array(context.id_map).astype(np.int64)
    raw_ids = faiss.vector_to_array(raw.id_map).astype(np.int64)
    context_vectors = context.index.reconstruct_n(0, context.ntotal)
    raw_vectors = raw.index.reconstruct_n(0, raw.ntotal)
    row_of = {int(i): row for row, i in enumerate(raw_ids)}
    raw_vectors = raw_vectors[[row_of[int(i)] for i in ids]]
    return ids, raw_vectors, context_vectors
