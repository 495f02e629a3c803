"""Who may write: the admin key, configured or generated once into the data directory."""

from __future__ import annotations

import logging
import os
import secrets
from pathlib import Path

from pydantic import SecretStr

from bots.settings import Settings

log = logging.getLogger(__name__)

KEY_FILE = "admin.key"


def admin_key(settings: Settings) -> SecretStr:
    """The configured key, or the one stored in the data directory (made on first start)."""
    if settings.admin_key is not None and settings.admin_key.get_secret_value():
        return settings.admin_key
    path = Path(settings.data_dir) / KEY_FILE
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        # O_EXCL: two processes starting at once cannot both write a key.
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        return _stored(path)
    key = secrets.token_urlsafe(32)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(key + "\n")
    except OSError:
        # An empty key file would stop every later start; without one, the next try makes a key.
        path.unlink(missing_ok=True)
        raise
    log.warning(
        "NEWSQA_ADMIN_KEY is not set; generated an admin key for writes in %s (owner-only)", path
    )
    return SecretStr(key)


def key_matches(expected: SecretStr, given: str | None) -> bool:
    """Constant-time comparison of the key a request carries."""
    if given is None:
        return False
    return secrets.compare_digest(
        expected.get_secret_value().encode("utf-8"), given.encode("utf-8", "surrogatepass")
    )


def _stored(path: Path) -> SecretStr:
    key = path.read_text(encoding="utf-8").strip()
    if not key:
        raise RuntimeError(f"the admin key file {path} is empty; delete it to make a new one")
    log.info("admin key for writes: read from %s", path)
    return SecretStr(key)
