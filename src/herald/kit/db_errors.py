"""Which database errors mean "the database is unavailable" (down, unreachable, read-only, out of
space or connections): the client gets a 503 and may retry. Any other error of the driver (a
constraint, a missing column, bad SQL) is a bug and stays a 500.
"""

from __future__ import annotations

from enum import StrEnum

import psycopg
from sqlalchemy.exc import DBAPIError
from sqlalchemy.exc import TimeoutError as PoolTimeout

# PostgreSQL SQLSTATEs (https://www.postgresql.org/docs/current/errcodes-appendix.html) by prefix:
# connection exceptions, insufficient resources (disk full, too many connections), operator
# intervention (shutdown, recovery), no such database, authentication refused.
_POSTGRES_UNAVAILABLE = ("08", "53", "57P", "3D000", "28")
_POSTGRES_READ_ONLY = "25006"  # read_only_sql_transaction: a standby, or default_transaction_read_only
# SQLite primary result codes (https://www.sqlite.org/rescode.html): BUSY and LOCKED past the busy
# timeout, IOERR, CORRUPT, FULL, CANTOPEN, NOTADB; READONLY apart.
_SQLITE_UNAVAILABLE = frozenset({5, 6, 10, 11, 13, 14, 26})
_SQLITE_READONLY = 8


class Unavailability(StrEnum):
    unreachable = "database unavailable"
    read_only = "database is read-only"


def unavailability(exc: BaseException) -> Unavailability | None:
    """Why the database cannot serve (``None``: the error is not about the database's availability)."""
    if isinstance(exc, PoolTimeout):  # every pooled connection busy for the pool's whole timeout
        return Unavailability.unreachable
    if not isinstance(exc, DBAPIError):
        return None
    driver_error = exc.orig
    sqlstate = getattr(driver_error, "sqlstate", None)
    if isinstance(sqlstate, str):
        if sqlstate == _POSTGRES_READ_ONLY:
            return Unavailability.read_only
        if sqlstate.startswith(_POSTGRES_UNAVAILABLE):
            return Unavailability.unreachable
    sqlite_code = getattr(driver_error, "sqlite_errorcode", None)
    if isinstance(sqlite_code, int):
        primary = sqlite_code & 0xFF  # extended codes carry the primary one in their low byte
        if primary == _SQLITE_READONLY:
            return Unavailability.read_only
        if primary in _SQLITE_UNAVAILABLE:
            return Unavailability.unreachable
    if exc.connection_invalidated:
        return Unavailability.unreachable
    # psycopg's errors raised before the server answered anything (connection refused, unknown
    # host, no such database, the server gone mid-query) have no SQLSTATE.
    if isinstance(driver_error, psycopg.OperationalError) and sqlstate is None:
        return Unavailability.unreachable
    return None
