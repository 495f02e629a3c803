"""Whether the data directory takes writes: a small real write, since only that tells the
truth (free-space figures miss quotas, reserved blocks and read-only mounts)."""

from __future__ import annotations

import contextlib
import os
import tempfile
from pathlib import Path

from qa.errors import is_disk_full

PROBE_BYTES = 64 * 1024  # about what adding one small article needs


class DiskFullError(Exception):
    """The data directory cannot take a write (507 at the edge)."""


def write_problem(data_dir: Path) -> str | None:
    """None when the data directory takes a small write; otherwise what is wrong, in a
    sentence that starts with "disk full" when that is the reason."""
    try:
        data_dir.mkdir(parents=True, exist_ok=True)
        fd, name = tempfile.mkstemp(prefix=".newsqa-probe-", dir=data_dir)
        try:
            with os.fdopen(fd, "wb") as handle:
                handle.write(bytes(PROBE_BYTES))
                handle.flush()
        finally:
            with contextlib.suppress(OSError):
                os.unlink(name)
    except OSError as exc:
        if is_disk_full(exc):
            return f"disk full: cannot write to {data_dir}"
        return f"cannot write to {data_dir}: {exc.strerror or exc}"
    return None
