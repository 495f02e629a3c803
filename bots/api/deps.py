"""What routes depend on: the app's state, the service once it is ready, the admin key."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Annotated

from fastapi import Depends, Request, Security
from fastapi.security import APIKeyHeader
from pydantic import SecretStr

from bots.api.auth import admin_key, key_matches
from bots.api.disk import DiskFullError, write_problem
from bots.api.jobs import Jobs
from bots.api.metrics import Metrics
from bots.api.ratelimit import ClientLimits
from bots.settings import Settings
from qa.errors import is_disk_full
from qa.records import Stats
from qa.service import QAService


class NotReadyError(Exception):
    """The model and index are still loading (or failed to load)."""

    def __init__(self, message: str, *, retry_after: int | None = None) -> None:
        super().__init__(message)
        # seconds after which asking again may work; None when it will not (a failed load)
        self.retry_after = retry_after


# How long a client is told to wait while the model loads (a few seconds on 2 cores).
LOADING_RETRY_SECONDS = 2
# How often a load that failed on a full disk is tried again.
LOAD_RETRY_SECONDS = 5


class UnauthorizedError(Exception):
    """A write without the right X-API-Key."""


@dataclass(slots=True)
class ApiState:
    """Everything one app holds: settings, the service once loaded, jobs and metrics."""

    settings: Settings
    key: SecretStr | None  # None: generated but not yet saved (the disk was full)
    jobs: Jobs
    metrics: Metrics = field(init=False)
    limits: ClientLimits = field(init=False)
    service: QAService | None = None
    load_error: str | None = None
    load_retrying: bool = False  # the load failed for a reason that may pass (a full disk)

    def __post_init__(self) -> None:
        self.metrics = Metrics(self._stats)
        self.limits = ClientLimits(self.settings.rate_limit)

    def _stats(self) -> Stats | None:
        return None if self.service is None else self.service.stats()


def get_state(request: Request) -> ApiState:
    """The app's state."""
    state: ApiState = request.app.state.api
    return state


State = Annotated[ApiState, Depends(get_state)]


def get_service(state: State) -> QAService:
    """The service; 503 until the model and index are loaded."""
    if state.service is not None:
        return state.service
    if state.load_error is not None:
        raise NotReadyError(
            state.load_error, retry_after=LOAD_RETRY_SECONDS if state.load_retrying else None
        )
    raise NotReadyError("the model and index are still loading", retry_after=LOADING_RETRY_SECONDS)


Service = Annotated[QAService, Depends(get_service)]


async def rate_limit(request: Request, state: State) -> None:
    """429 for a client address over NEWSQA_RATE_LIMIT (the peer address: behind a proxy, run
    uvicorn with --forwarded-allow-ips so that it is the client's). In memory and quick, so on
    the event loop rather than a worker thread."""
    state.limits.check(request.client.host if request.client is not None else "unknown")


Limited = Depends(rate_limit)

_api_key = APIKeyHeader(
    name="X-API-Key",
    auto_error=False,
    description="Needed for every write; the value of NEWSQA_ADMIN_KEY (or the generated key).",
)


def require_admin(state: State, given: Annotated[str | None, Security(_api_key)]) -> None:
    """401 unless X-API-Key matches the admin key (compared in constant time)."""
    if state.key is None:
        try:
            state.key = admin_key(state.settings)
        except OSError as exc:
            if not is_disk_full(exc):
                raise
            raise DiskFullError(
                f"disk full: the admin key cannot be saved in {state.settings.data_dir}"
            ) from None
    if not key_matches(state.key, given):
        raise UnauthorizedError("a valid X-API-Key header is required for this request")


def require_writable(state: State) -> None:
    """507 while the data directory cannot take a write, before any work is done."""
    problem = write_problem(state.settings.data_dir)
    if problem is not None:
        raise DiskFullError(problem)


# The key first: a client without it learns nothing about the disk.
Admin = Depends(require_admin)
Writable = Depends(require_writable)

ServiceLoader = Callable[[Settings], QAService]
