"""The span reader: the best answer span of a sentence, and reordering the ranker's best few."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from index.embedding import Encoder
from qa.reader import LONGEST, WEIGHTS, ReaderStage, SpanReader, TokenEncoder
from qa.retrieval import DATA_DIR, DEFAULT_MODEL_KEY
from qa.service import QAService

DIM = 4


def _reader() -> SpanReader:
    """A reader whose start logit is a token's first state value and end logit its second (the
    question plays no part), so the tests set the logits through the states."""
    zeros = np.zeros((DIM, 1), np.float32)
    weights = {
        "Qs": zeros,
        "Hs": zeros,
        "ws": np.eye(DIM, dtype=np.float32)[0],
        "Qe": zeros,
        "He": zeros,
        "we": np.eye(DIM, dtype=np.float32)[1],
    }
    return SpanReader(weights, model="test")


def _states(start: list[float], end: list[float]) -> tuple[np.ndarray, list[tuple[int, int]]]:
    """[CLS], one token per logit pair (token t covers characters 10t..10t+5), [SEP]."""
    hidden = np.zeros((len(start) + 2, DIM), np.float32)
    hidden[1:-1, 0] = start
    hidden[1:-1, 1] = end
    offsets = [(0, 0)] + [(10 * t, 10 * t + 5) for t in range(len(start))] + [(0, 0)]
    return hidden, offsets


QUESTION = np.full(DIM, 0.5, np.float32)


def _lse(values: list[float]) -> float:
    return float(np.log(np.exp(values).sum()))


def test_the_best_span_is_the_best_start_and_end_in_order() -> None:
    reading = _reader().read(QUESTION, [_states([0, 3], [0, 2])])[0]
    assert (reading.start, reading.end) == (10, 15)
    # spans (0,0) (0,1) (1,1): every start + end with the end not before the start
    assert reading.score == pytest.approx(_lse([0 + 0, 0 + 2, 3 + 2]))


def test_an_end_before_its_start_is_not_a_span() -> None:
    # the highest end comes before the highest start: the best is the start with its own end
    reading = _reader().read(QUESTION, [_states([0, 0, 4], [5, 0, 1])])[0]
    assert (reading.start, reading.end) == (0, 5)
    assert reading.score == pytest.approx(_lse([5, 0, 1, 0, 1, 5]))


def test_spans_are_at_most_longest_tokens() -> None:
    start = [30.0] + [0.0] * LONGEST
    end = [0.0] * LONGEST + [30.0]
    reading = _reader().read(QUESTION, [_states(start, end)])[0]
    # with that pair the score would be at least 60
    assert reading.score < 40.0, "the first start and the last end are too far apart"
    assert (reading.start, reading.end) != (0, 10 * LONGEST + 5)


def test_special_tokens_are_never_part_of_a_span() -> None:
    hidden, offsets = _states([1, 0], [0, 1])
    hidden[0, :2] = 9.0  # [CLS]
    hidden[-1, :2] = 9.0  # [SEP]
    reading = _reader().read(QUESTION, [(hidden, offsets)])[0]
    assert (reading.start, reading.end) == (0, 15)
    assert reading.score == pytest.approx(_lse([1 + 0, 1 + 1, 0 + 1]))


class _Encoder:
    """Token states by text: the test's own logits for each sentence."""

    def __init__(self, states: dict[str, tuple[np.ndarray, list[tuple[int, int]]]]) -> None:
        self.states = states
        self.asked: list[list[str]] = []

    def token_states(self, texts: list[str]) -> list[tuple[np.ndarray, list[tuple[int, int]]]]:
        self.asked.append(texts)
        return [self.states[t] for t in texts]


def test_the_stage_reorders_only_the_best_few_by_probability_and_reading() -> None:
    encoder = _Encoder(
        {
            "a": _states([0.0], [0.0]),
            "b": _states([4.0], [4.0]),
            "c": _states([3.0], [0.0]),
            "d": _states([9.0], [9.0]),
        }
    )
    stage = ReaderStage(_reader(), top=3, weight={"corpus": 1.0})
    # a is likelier than b and c by a logit of 2; b reads better by 8, c by 3
    probabilities = [1 / (1 + np.exp(-2.0)), 0.5, 0.5, 0.4]
    order = stage.reorder("corpus", QUESTION, ["a", "b", "c", "d"], probabilities, encoder)
    assert order == [1, 2, 0, 3]
    assert encoder.asked == [["a", "b", "c"]], "only the best three are read"


def test_the_stage_leaves_modes_it_was_not_fitted_for_alone() -> None:
    encoder = _Encoder({"a": _states([0.0], [0.0]), "b": _states([4.0], [4.0])})
    stage = ReaderStage(_reader(), top=3, weight={"corpus": 1.0})
    order = stage.reorder("conversation", QUESTION, ["a", "b"], [0.9, 0.1], encoder)
    assert order == [0, 1]
    assert encoder.asked == [], "nothing is read for nothing"


BUDAPEST = (
    '"Then President Putin and I will meet at a previously agreed upon location, Budapest, '
    "Hungary, to see if we can end this 'inglorious' war between Russia and Ukraine,\" the US "
    "president added."
)
IN_PERSON = (
    'Bieber\'s representative said she had "no official comment," including about if there are '
    "plans for the two to meet in person."
)


@pytest.mark.model
def test_token_states_are_the_pass_the_sentence_vector_is_pooled_from(encoder: Encoder) -> None:
    assert isinstance(encoder, TokenEncoder)
    texts = [BUDAPEST, "Short one.", IN_PERSON]
    states = encoder.token_states(texts)
    vectors = encoder.encode(texts)
    for text, (hidden, offsets), vector in zip(texts, states, vectors, strict=True):
        assert len(hidden) == len(offsets) and offsets[0] == (0, 0), "[CLS] first"
        mean = hidden.mean(axis=0)
        assert float(mean @ vector / np.linalg.norm(mean)) == pytest.approx(1.0, abs=1e-4)
        words = [text[s:e] for s, e in offsets if e > s]
        assert "".join(words).lower() == "".join(text.split()).lower()


@pytest.mark.model
@pytest.mark.parametrize(
    ("question", "better", "worse", "answer"),
    [
        ("where will they meet?", BUDAPEST, IN_PERSON, "Budapest"),
        (
            "How many drones did Russia launch?",
            "Russia launched a series of 320 drones and 37 missiles overnight.",
            "Russia launched drones and missiles at Ukraine overnight again.",
            "320",
        ),
    ],
)
def test_the_shipped_reader_prefers_the_sentence_holding_the_answer_type(
    encoder: Encoder, question: str, better: str, worse: str, answer: str
) -> None:
    reader = SpanReader.load(DATA_DIR / DEFAULT_MODEL_KEY / WEIGHTS)
    assert isinstance(encoder, TokenEncoder)
    good, bad = reader.read(encoder.encode([question])[0], encoder.token_states([better, worse]))
    assert good.score > bad.score
    assert answer in better[good.start : good.end]


IN_PERSON_STORY = Path(__file__).resolve().parent / "data" / "meet-in-person.jsonl"


@pytest.mark.model
@pytest.mark.xfail(
    strict=True,
    reason="a case issue 15 item 4 left unsolved: the ranker puts meeting 'in person' first, "
    "and the span reader, which prefers the Budapest sentence, did not pay for its cost "
    "(scripts/reader/README.md)",
)
def test_where_will_they_meet_names_the_place_not_meeting_in_person(
    samples_service: QAService,
) -> None:
    outcome = samples_service.ingest_paths([IN_PERSON_STORY])
    assert not outcome.skipped
    answer = samples_service.ask("where will they meet?", k=3)
    assert not answer.abstained
    assert "Budapest" in answer.answers[0].sentence
