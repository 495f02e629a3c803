"""Which language a question is in: the ranker's hand-made features only read English.

py3langid (a maintained fork of langid.py; its model ships inside the package and loads without
pickle or network) names the language. A question counts as English unless another language is
named with confidence: short questions ("When?", "Budapest?") say too little to tell, and
treating them as English keeps the fitted ranker for them.
"""

from __future__ import annotations

from functools import lru_cache
from typing import Any

# On the eval sets' 6,294 English questions, 1 is named another language at this confidence
# (a Latin legal term); French, German and Spanish questions of five words come out above 0.8.
CONFIDENCE = 0.7


@lru_cache(maxsize=1)
def _identifier() -> Any:
    from py3langid.langid import MODEL_FILE, LanguageIdentifier

    return LanguageIdentifier.from_model_file(MODEL_FILE, norm_probs=True)


@lru_cache(maxsize=4096)
def language(text: str) -> str | None:
    """The ISO 639-1 code of text's language, or None when it cannot be told with confidence."""
    code, confidence = _identifier().classify(text)
    return str(code) if float(confidence) >= CONFIDENCE else None


def is_english(text: str) -> bool:
    """Whether the English-only features may be trusted for text."""
    return language(text) in (None, "en")
