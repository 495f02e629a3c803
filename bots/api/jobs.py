"""Rebuild jobs: one at a time, in a thread of their own, with progress the API can report."""

from __future__ import annotations

import logging
import secrets
import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import asdict, dataclass, replace

from qa.errors import IndexBusyError
from qa.job_records import JobRecords
from qa.records import Progress, Stats

log = logging.getLogger(__name__)

# How long a request waits to learn whether its rebuild got the index's write lock.
_START_TIMEOUT = 10.0


@dataclass(frozen=True, slots=True)
class Job:
    """A snapshot of one job's state."""

    id: str
    status: str
    created_at: float
    stage: str | None = None
    done: int = 0
    total: int = 0
    finished_at: float | None = None
    error: str | None = None
    result: Stats | None = None


class JobNotFoundError(LookupError):
    """No job has this id (never started, or forgotten)."""


class Jobs:
    """Runs rebuilds in a background thread and remembers the latest jobs."""

    def __init__(self, keep: int = 50) -> None:
        self._keep = keep
        self._lock = threading.Lock()
        self._jobs: OrderedDict[str, Job] = OrderedDict()
        self._running: str | None = None
        self._threads: list[threading.Thread] = []
        # with the shared backend: where every replica's jobs are (set once the service is)
        self.records: JobRecords | None = None

    def get(self, job_id: str) -> Job:
        """The job's latest state (one another replica runs too, with shared records)."""
        with self._lock:
            job = self._jobs.get(job_id)
        if job is None and self.records is not None:
            state = self.records.load(job_id)
            if state is not None:
                result = state.pop("result", None)
                job = Job(**state, result=None if result is None else Stats(**result))
        if job is None:
            raise JobNotFoundError(job_id)
        return job

    def _update(self, job_id: str, **changes: object) -> None:
        with self._lock:
            job = replace(self._jobs[job_id], **changes)  # type: ignore[arg-type]
        # shared first: once this replica reports a state, every other one reports it too
        # (a client polling the owner until "succeeded" may ask another replica next)
        self._share(job)
        with self._lock:
            self._jobs[job_id] = job

    def _share(self, job: Job) -> None:
        records = self.records
        if records is None:
            return
        try:
            records.save(job.id, asdict(job))
        except Exception:  # the job goes on; only other replicas miss this report
            log.exception("could not share the state of job %s", job.id)

    def start(self, work: Callable[[Progress], Stats]) -> Job:
        """Start work(progress) in a thread; IndexBusyError when a write is already running.

        Blocks until the work has taken the index's write lock (its first progress report) or
        failed, so a busy index is reported to this caller rather than hidden in the job.
        """
        with self._lock:
            if self._running is not None:
                raise IndexBusyError(f"rebuild {self._running} is still running")
            job = Job(id=secrets.token_hex(8), status="running", created_at=time.time())
            self._jobs[job.id] = job
            self._running = job.id
            while len(self._jobs) > self._keep:
                self._jobs.popitem(last=False)
        self._share(job)
        started = threading.Event()
        busy: list[IndexBusyError] = []

        def progress(stage: str, done: int, total: int) -> None:
            started.set()
            self._update(job.id, stage=stage, done=done, total=total)

        def run() -> None:
            try:
                stats = work(progress)
            except IndexBusyError as exc:
                busy.append(exc)
                with self._lock:
                    self._jobs.pop(job.id, None)
                self._update_gone(job.id, str(exc))
            except Exception as exc:
                log.exception("rebuild %s failed", job.id)
                self._update(
                    job.id,
                    status="failed",
                    error=str(exc) or type(exc).__name__,
                    finished_at=time.time(),
                )
            else:
                self._update(job.id, status="succeeded", result=stats, finished_at=time.time())
            finally:
                with self._lock:
                    if self._running == job.id:
                        self._running = None
                started.set()

        thread = threading.Thread(target=run, name=f"rebuild-{job.id}", daemon=True)
        self._threads = [t for t in self._threads if t.is_alive()]
        self._threads.append(thread)
        thread.start()
        started.wait(_START_TIMEOUT)
        if busy:
            raise busy[0]
        return self.get(job.id)

    def _update_gone(self, job_id: str, reason: str) -> None:
        """A job that never started: shared as failed, not left running."""
        gone = Job(job_id, "failed", time.time(), error=reason, finished_at=time.time())
        self._share(gone)

    def wait(self, timeout: float | None = None) -> None:
        """Wait for running jobs to end (shutdown and tests)."""
        for thread in list(self._threads):
            thread.join(timeout)
