"""Which database errors are an outage (retry the same write later) and which are a refusal of the
data itself (isolate the row, dead-letter it, write the rest)."""

from __future__ import annotations

import asyncpg

# Connection loss, a server shutting down or starting, no free connection, a statement timeout,
# a deadlock or serialisation failure: the same write will succeed later, unchanged.
_OUTAGES: tuple[type[BaseException], ...] = (
    OSError,
    TimeoutError,
    asyncpg.InterfaceError,
    asyncpg.PostgresConnectionError,
    asyncpg.CannotConnectNowError,
    asyncpg.TooManyConnectionsError,
    asyncpg.exceptions.OperatorInterventionError,
    asyncpg.exceptions.InsufficientResourcesError,
    asyncpg.exceptions.DeadlockDetectedError,
    asyncpg.exceptions.SerializationError,
    asyncpg.exceptions.LockNotAvailableError,
)


def is_outage(error: BaseException) -> bool:
    """True when the database (or the way to it) failed, not the data: keep the write for later."""
    return isinstance(error, _OUTAGES)


def sqlstate(error: BaseException) -> str | None:
    return getattr(error, "sqlstate", None)


class MissingRows(Exception):
    """Rows a write needed are gone (e.g. a users row erased behind the bot's back)."""

    sqlstate = "23503"  # what a foreign key would have said

    def __init__(self, table: str, keys: list[str]) -> None:
        super().__init__(f"no {table} row for {', '.join(keys)} (deleted?)")
        self.keys = keys


def is_missing_row(error: BaseException) -> bool:
    """A foreign key refused the write, or a row it updates is gone: the member was erased."""
    return isinstance(error, (asyncpg.ForeignKeyViolationError, MissingRows))


def one_line(error: BaseException) -> str:
    """The error as one log-friendly line (type and first line of the message)."""
    text = str(error).strip().splitlines()[0] if str(error).strip() else ""
    return f"{type(error).__name__}: {text}" if text else type(error).__name__
