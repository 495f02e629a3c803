"""Schemathesis against the app's own OpenAPI schema: no server error, no off-schema response."""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Any

import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis.checks import not_a_server_error
from schemathesis.generation.modes import GenerationMode
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from bots.api.app import create_app
from bots.settings import Settings
from index.articles import article_from_record
from index.store import NewsIndex
from qa.service import QAService
from tests.api_support import ARTICLES, AUTH, KEY
from tests.fakes import FakeEncoder

CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
    response_headers_conformance,
]


def _app() -> Any:
    # Built at import: schemathesis reads the schema while collecting (a temporary directory,
    # explicit settings, a fake encoder; nothing heavy).
    data_dir = Path(tempfile.mkdtemp(prefix="newsqa-schema-"))
    service = QAService(NewsIndex(data_dir, FakeEncoder()))
    service.ingest([article_from_record(a) for a in ARTICLES])
    # the rate limit off, or most generated cases would only meet its (declared) 429
    return create_app(Settings(data_dir=data_dir, admin_key=KEY, rate_limit=None), service)


schema = schemathesis.openapi.from_asgi("/openapi.json", _app())


@schema.parametrize()
@settings(
    max_examples=25,
    deadline=None,
    suppress_health_check=list(HealthCheck),
)
def test_api_conforms_to_its_schema(case: schemathesis.Case) -> None:
    # With the key, so writes are exercised too, not only their 401.
    case.call_and_validate(headers=AUTH, checks=CHECKS)


@schema.parametrize()
@settings(max_examples=5, deadline=None, suppress_health_check=list(HealthCheck))
def test_api_without_the_key_conforms_to_its_schema(case: schemathesis.Case) -> None:
    case.call_and_validate(checks=CHECKS)


# Only operations that take input: for the others no request can break the schema.
negative = (
    schemathesis.openapi.from_asgi("/openapi.json", _app())
    .exclude(path_regex=r"^/(healthz|readyz|metrics|stats|index/rebuild|index/jobs/\{job_id\})$")
    .exclude(method="GET", path_regex=r"^/articles/\{article_id\}$")
)
negative.config.generation.update(modes=[GenerationMode.NEGATIVE])


@negative.parametrize()
@settings(max_examples=15, deadline=None, suppress_health_check=list(HealthCheck))
def test_invalid_requests_are_refused_without_a_server_error(case: schemathesis.Case) -> None:
    # Data that breaks the schema must get a declared 4xx, never a 500.
    case.call_and_validate(headers=AUTH, checks=CHECKS)
