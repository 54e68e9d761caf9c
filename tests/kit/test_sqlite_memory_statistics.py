"""SQLite's memory statistics are off in Herald's processes: with them on, every allocation of every
statement takes one process-wide mutex, and readers in threads (the report export) contend on it."""

from __future__ import annotations

import ctypes
import importlib.util
import sqlite3
import subprocess
import sys

import pytest

from herald.kit import db


def memory_in_use() -> int:
    """What SQLite counts as in use right now (0 whatever is open when it does not count)."""
    spec = importlib.util.find_spec("_sqlite3")
    assert spec and spec.origin
    used, highest = ctypes.c_int64(), ctypes.c_int64()
    ctypes.CDLL(spec.origin).sqlite3_status64(0, ctypes.byref(used), ctypes.byref(highest), 0)
    return used.value


class TestSqliteMemoryStatistics:
    def test_are_off_once_herald_kit_db_is_imported(self) -> None:
        connection = sqlite3.connect(":memory:")
        connection.execute("CREATE TABLE t (x)")
        connection.execute("INSERT INTO t VALUES (printf('%0100d', 1))")

        assert db.SQLITE_MEMORY_STATISTICS_OFF
        assert memory_in_use() == 0
        connection.close()

    @pytest.mark.process
    def test_are_left_on_when_a_connection_is_already_open(self) -> None:
        # Turning them off restarts the library, which must not happen under an open connection.
        script = (
            "import sqlite3\n"
            "connection = sqlite3.connect(':memory:')\n"
            "connection.execute('CREATE TABLE t (x)')\n"
            "from herald.kit import db\n"
            "connection.execute('INSERT INTO t VALUES (1)')\n"
            "print(db.SQLITE_MEMORY_STATISTICS_OFF, connection.execute('SELECT x FROM t').fetchall())\n"
        )
        result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=True)

        assert result.stdout.split() == ["False", "[(1,)]"]
