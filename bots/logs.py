"""One logging format for the command line, the server (uvicorn's access log too) and the bot."""

from __future__ import annotations

import logging.config
from typing import Any

TEXT_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"
DATE_FORMAT = "%Y-%m-%dT%H:%M:%S%z"
# Libraries that talk at INFO about things a newsqa user never needs (HTTP calls, model loading).
QUIET = ("httpx", "httpcore", "sentence_transformers", "transformers", "faiss", "urllib3")


def config(level: str = "INFO", fmt: str = "text") -> dict[str, Any]:
    """A logging.config dict: every record to stderr, as text lines or JSON lines.

    The same dict is handed to uvicorn as `log_config`, so its access log is formatted alike.
    """
    formatter: dict[str, Any]
    if fmt == "json":
        formatter = {
            "()": "pythonjsonlogger.json.JsonFormatter",
            "fmt": "%(asctime)s %(levelname)s %(name)s %(message)s",
            "rename_fields": {"asctime": "time", "levelname": "level", "name": "logger"},
            "datefmt": DATE_FORMAT,
        }
    else:
        formatter = {"format": TEXT_FORMAT, "datefmt": DATE_FORMAT}
    handler = {
        "class": "logging.StreamHandler",
        "formatter": "newsqa",
        "stream": "ext://sys.stderr",
    }
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "formatters": {"newsqa": formatter},
        "handlers": {"stderr": handler},
        "root": {"handlers": ["stderr"], "level": level},
        "loggers": {
            # uvicorn's own loggers propagate to the root handler instead of their default ones.
            "uvicorn": {"handlers": [], "level": level, "propagate": True},
            "uvicorn.error": {"handlers": [], "level": level, "propagate": True},
            "uvicorn.access": {"handlers": [], "level": level, "propagate": True},
            **{name: {"level": "WARNING"} for name in QUIET},
        },
    }


def configure(level: str = "INFO", fmt: str = "text") -> dict[str, Any]:
    """Apply the configuration to this process and return it (for uvicorn)."""
    settings = config(level, fmt)
    logging.config.dictConfig(settings)
    return settings
