"""The encoder backends: the same vectors on ONNX Runtime as on torch, clause vectors pooled from
the sentence's own pass, an exported model cached by content, and an index never mixing two."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import numpy.typing as npt
import pytest

from index import onnx_model
from index.clauses import clauses
from index.embedding import (
    SENTENCE_SHARE,
    Encoder,
    TransformerEncoder,
    default_model_path,
    load_encoder,
    weights_id,
)
from index.errors import ModelMismatchError, NewsqaError
from index.store import NewsIndex
from tests.conftest import SAMPLES

BUDAPEST = (
    '"Then President Putin and I will meet at a previously agreed upon location, Budapest, '
    "Hungary, to see if we can end this 'inglorious' war between Russia and Ukraine,\" the US "
    "president added."
)
SENTENCES = [
    BUDAPEST,
    "Russia launched 320 drones and 12 missiles at Ukraine overnight, the air force said.",
    "The Normans were the people who gave their name to Normandy, a region in France.",
    "Ministers will meet in Vienna on Monday.",
    "Shares fell sharply in early trading after the bank reported a loss.",
]


class TokenTable:
    """A stand-in transformer: each token's hidden state is a fixed random row of its id, so a
    pooled vector can be computed by hand from the tokenizer's output."""

    def __init__(self, dim: int = 384) -> None:
        self.table = np.random.default_rng(0).normal(size=(40_000, dim)).astype(np.float32)

    def __call__(
        self, ids: npt.NDArray[np.int64], mask: npt.NDArray[np.int64], types: npt.NDArray[np.int64]
    ) -> npt.NDArray[np.float32]:
        return self.table[ids]


def _unit(vector: npt.NDArray[np.float32]) -> npt.NDArray[np.float32]:
    return vector / np.linalg.norm(vector)


def test_a_clause_vector_pools_exactly_the_tokens_of_its_span() -> None:
    table = TokenTable()
    encoder = TransformerEncoder(default_model_path(), table, "onnx")
    spans = clauses(BUDAPEST)
    vectors, pooled = encoder.encode_with_spans([BUDAPEST, "Ministers meet."], [spans, []])
    assert pooled[1] is None
    assert pooled[0] is not None and pooled[0].shape == (len(spans), 384)

    from tokenizers import Tokenizer

    tokenizer = Tokenizer.from_file(str(default_model_path() / "tokenizer.json"))
    tokenizer.no_padding()
    encoding = tokenizer.encode(BUDAPEST)
    # the whole sentence: every token, [CLS] and [SEP] included, as sentence-transformers pools
    assert np.allclose(vectors[0], _unit(table.table[encoding.ids].mean(axis=0)), atol=1e-5)
    for (start, end), got in zip(spans, pooled[0], strict=True):
        inside = [
            token
            for token, (a, b) in zip(encoding.ids, encoding.offsets, strict=True)
            if b > a and a < end and b > start
        ]
        words = tokenizer.decode(inside)
        assert words.split()[0].lower() in BUDAPEST[start:end].lower()
        mean = _unit(table.table[inside].mean(axis=0))
        assert np.allclose(got, _unit(mean - SENTENCE_SHARE * vectors[0]), atol=1e-5)


def test_batches_pad_only_to_their_longest_text() -> None:
    widths: list[int] = []
    table = TokenTable()

    def forward(
        ids: npt.NDArray[np.int64], mask: npt.NDArray[np.int64], types: npt.NDArray[np.int64]
    ) -> npt.NDArray[np.float32]:
        widths.append(ids.shape[1])
        return table(ids, mask, types)

    encoder = TransformerEncoder(default_model_path(), forward, "onnx", batch_size=2)
    alone = [encoder.encode([text])[0] for text in SENTENCES]
    together = encoder.encode(SENTENCES)
    # padding a text beside longer ones changes nothing, and the packaged tokenizer's fixed
    # padding to 128 tokens is off
    assert np.allclose(np.stack(alone), together, atol=1e-5)
    assert max(widths) < 128


@pytest.mark.model
@pytest.mark.parametrize("backend", ["onnx", "onnx-int8"])
def test_onnx_vectors_match_torch(backend: str) -> None:
    torch_encoder = load_encoder(backend="torch")
    onnx_encoder = load_encoder(backend=backend)  # type: ignore[arg-type]
    spans = [clauses(text) for text in SENTENCES]
    expected, expected_clauses = torch_encoder.encode_with_spans(SENTENCES, spans)
    got, got_clauses = onnx_encoder.encode_with_spans(SENTENCES, spans)
    assert np.allclose(np.linalg.norm(got, axis=1), 1.0, atol=1e-5)
    assert (got * expected).sum(axis=1).min() >= (0.999 if backend == "onnx" else 0.97)
    for want, have in zip(expected_clauses, got_clauses, strict=True):
        assert (want is None) == (have is None)
        if want is not None and have is not None:
            assert (want * have).sum(axis=1).min() >= 0.97
    assert weights_id(onnx_encoder.model_id) == weights_id(torch_encoder.model_id)
    assert onnx_encoder.model_id != torch_encoder.model_id


@pytest.mark.model
def test_the_meeting_clause_answers_where_they_will_meet(encoder: Encoder) -> None:
    spans = clauses(BUDAPEST)
    [sentence], [pooled] = encoder.encode_with_spans([BUDAPEST], [spans])
    assert pooled is not None
    question = encoder.encode(["where will they meet?"])[0]
    best = int(np.argmax(pooled @ question))
    assert "meet at a previously agreed upon location, Budapest" in BUDAPEST[slice(*spans[best])]
    assert float(pooled[best] @ question) > float(sentence @ question) + 0.1
    # pooled in context, each clause is closest to itself encoded alone, closer than its sentence
    alone = encoder.encode([BUDAPEST[start:end] for start, end in spans])
    similarity = pooled @ alone.T
    assert list(similarity.argmax(axis=1)) == list(range(len(spans)))
    assert (similarity.diagonal() > alone @ sentence).all()


@pytest.mark.model
def test_an_exported_model_is_cached_and_made_again_when_damaged(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    folder = default_model_path()
    onnx_model.cached_model(folder, quantised=True, cache_dir=tmp_path)
    [fp32] = tmp_path.glob("*-fp32.onnx")
    [int8] = tmp_path.glob("*-int8.onnx")
    assert weights_id_hash(folder) in fp32.name
    assert not list(tmp_path.glob(".*tmp")), "no temp file is left behind"

    def never(*args: object) -> None:
        raise AssertionError("a cached model must not be exported again")

    monkeypatch.setattr(onnx_model, "_export", never)
    stamp = int8.stat().st_mtime_ns
    onnx_model.cached_model(folder, quantised=True, cache_dir=tmp_path)
    assert int8.stat().st_mtime_ns == stamp

    # a damaged or missing int8 file is quantised again from the cached fp32 one
    int8.write_bytes(b"not a model")
    session = onnx_model.cached_model(folder, quantised=True, cache_dir=tmp_path)
    assert session.get_inputs()[0].name == "input_ids"
    assert int8.stat().st_size > 1_000_000
    int8.unlink()
    onnx_model.cached_model(folder, quantised=True, cache_dir=tmp_path)
    assert int8.is_file()


def weights_id_hash(folder: Path) -> str:
    return onnx_model.weights_hash(folder)


def test_a_changed_model_gets_another_cache_key(tmp_path: Path) -> None:
    folder = tmp_path / "model"
    folder.mkdir()
    (folder / "config.json").write_text('{"hidden_size": 4}')
    (folder / "model.safetensors").write_bytes(b"a" * 100)
    before = onnx_model.weights_hash(folder)
    (folder / "model.safetensors").write_bytes(b"b" * 100)  # same size, other weights
    assert onnx_model.weights_hash(folder) != before


@pytest.mark.model
def test_a_failed_export_says_so_and_leaves_no_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import torch

    def broken(*args: object, **kwargs: object) -> None:
        raise RuntimeError("unsupported operator")

    monkeypatch.setattr(torch.onnx, "export", broken)
    with pytest.raises(NewsqaError, match="NEWSQA_ENCODER_BACKEND=torch"):
        load_encoder(backend="onnx", cache_dir=tmp_path)
    assert list(tmp_path.iterdir()) == []


def test_an_index_refuses_vectors_of_another_backend(tmp_path: Path) -> None:
    table = TokenTable()
    int8 = TransformerEncoder(default_model_path(), table, "onnx-int8")
    torch_like = TransformerEncoder(default_model_path(), table, "torch")
    index = NewsIndex(tmp_path, int8)
    from qa.service import QAService

    QAService(index).ingest_paths([SAMPLES])
    question = torch_like.encode(["where will they meet?"])[0]
    other = NewsIndex(tmp_path, torch_like)  # opens, so that it can be rebuilt
    with pytest.raises(ModelMismatchError, match="newsqa rebuild"):
        other.search_dense(question, 3)
    rebuilt = other.rebuild()
    assert rebuilt.model is not None and rebuilt.model.endswith("+torch")
    assert NewsIndex(tmp_path, torch_like).search_dense(question, 3)  # searched now


def test_an_unknown_backend_is_refused() -> None:
    with pytest.raises(NewsqaError, match="onnx-int8"):
        load_encoder(backend="tensorflow")  # type: ignore[arg-type]


@pytest.mark.model
def test_the_backend_is_chosen_by_a_setting(monkeypatch: pytest.MonkeyPatch) -> None:
    from bots.settings import get_settings
    from bots.wiring import load_encoder as configured

    assert get_settings().encoder_backend == "onnx-int8"
    monkeypatch.setenv("NEWSQA_ENCODER_BACKEND", "torch")
    get_settings.cache_clear()
    encoder = configured(get_settings())
    assert encoder.model_id.endswith("+torch")
    assert np.isclose(float(np.linalg.norm(encoder.encode(["Ministers meet."])[0])), 1.0)


def test_an_unknown_backend_setting_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    from bots.settings import SettingsError, get_settings

    monkeypatch.setenv("NEWSQA_ENCODER_BACKEND", "gpu")
    get_settings.cache_clear()
    with pytest.raises(SettingsError, match=r"NEWSQA_ENCODER_BACKEND=gpu.*onnx-int8"):
        get_settings()
