"""Shared plumbing for the benchmarks: scratch databases, child processes, ports, percentiles."""

from __future__ import annotations

import os
import socket
import statistics
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
HERALD = str(Path(sys.executable).with_name("herald"))
DEFAULT_POSTGRES_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/test"


def postgres_url() -> str | None:
    """The PostgreSQL server benchmarks use (``HERALD_BENCH_POSTGRES_URL``, else the CI one if reachable)."""
    url = os.environ.get("HERALD_BENCH_POSTGRES_URL") or os.environ.get("HERALD_TEST_POSTGRES_URL") or DEFAULT_POSTGRES_URL
    try:
        import psycopg

        with psycopg.connect(_admin_conninfo(url), connect_timeout=3):
            return url
    except Exception:  # no server: the PostgreSQL rows are skipped
        return None


def _admin_conninfo(db_url: str) -> str:
    from sqlalchemy.engine import make_url

    server = make_url(db_url)
    info = f"host={server.host or '127.0.0.1'} port={server.port or 5432} user={server.username or 'postgres'}"
    info += f" dbname={server.database or 'postgres'}"
    return info + (f" password={server.password}" if server.password else "")


@contextmanager
def scratch_database(db_url: str | None, workdir: Path, *, migrate: bool = True) -> Iterator[str]:
    """A migrated, empty database: a SQLite file in ``workdir``, or a new database on the PG server."""
    from herald.kit import migrate as migrations

    if db_url is None:
        url = f"sqlite+aiosqlite:///{workdir / f'bench-{uuid.uuid4().hex[:6]}.db'}"
        if migrate:
            migrations.upgrade(url)
        yield url
        return
    import psycopg
    from sqlalchemy.engine import make_url

    admin = _admin_conninfo(db_url)
    name = f"herald_bench_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    try:
        url = make_url(db_url).set(drivername="postgresql+psycopg", database=name).render_as_string(hide_password=False)
        if migrate:
            migrations.upgrade(url)
        yield url
    finally:
        with psycopg.connect(admin, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def sync_url(url: str) -> str:
    return url.replace("sqlite+aiosqlite", "sqlite")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def percentile(values: list[float], q: int) -> float:
    if not values:
        return 0.0
    return statistics.quantiles(values, n=100, method="inclusive")[q - 1] if len(values) > 1 else values[0]


def wait_http(url: str, process: subprocess.Popen[bytes], timeout: float = 60) -> None:
    import urllib.error
    import urllib.request

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"the process behind {url} exited with {process.returncode}")
        try:
            with urllib.request.urlopen(url, timeout=1):
                return
        except urllib.error.HTTPError:
            return  # it answers
        except OSError:
            time.sleep(0.1)
    raise RuntimeError(f"{url} did not answer within {timeout}s")


@contextmanager
def process(args: list[str], env: dict[str, str], ready_url: str) -> Iterator[subprocess.Popen[bytes]]:
    """A child process that is up once ``ready_url`` answers, and is stopped when the block ends."""
    child = subprocess.Popen(args, env=env, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        wait_http(ready_url, child)
        yield child
    finally:
        child.terminate()
        try:
            child.wait(timeout=20)
        except subprocess.TimeoutExpired:
            child.kill()
            child.wait()
