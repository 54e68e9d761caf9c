"""Benchmark: the contacts CSV import, end to end, and the memory it needs.

What it measures: a generated CSV of ``size`` rows (``phone,name,tags,vt:customer_id``, every
phone distinct and valid) is imported through ``herald.contacts.importer.import_contacts`` — the
code behind ``herald contacts import`` and ``POST /contacts/import`` — into a fresh organization,
each batch committed. Each import runs in a subprocess of its own so its peak RSS (``ru_maxrss``)
is its own. Figures returned:

- ``seconds`` / ``rows_per_s``: wall time of the import (parsing, phone validation, upserts);
- ``baseline_parse_seconds``: reading the same file with the ``csv`` module alone, the floor;
- ``peak_rss_mb``: peak resident memory of the importing process at ``size`` rows;
- ``rss_growth_mb``: that peak minus the peak of the same import at ``size // 10`` rows. The
  import streams in bounded batches, so this should stay near zero whatever the file size;
- ``cpu_seconds`` / ``server_cpu_seconds``: CPU time the importing process, and on PostgreSQL
  the server backend serving it (read from ``/proc``, so only for a server on this machine), spent
  on the import. On a machine shared with other benchmarks the wall time mostly measures the
  queue for the cores; these say how much work the import itself needed.

Without ``db_url`` it uses a temporary SQLite database (the embedded default). With a
PostgreSQL URL it creates a throwaway database on that server and drops it afterwards.
Run: ``python -m bench.bench_import [SIZE] [DB_URL]``.
"""

from __future__ import annotations

import asyncio
import csv
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

from bench.common import ROOT, scratch_database

TAGS = ("vip", "new", "lisbon", "paris", "churn-risk", "newsletter")


def write_csv(path: Path, size: int) -> None:
    """``size`` distinct valid French mobile numbers (+336…) with names, tags and a valued tag."""
    with path.open("w", encoding="utf-8", newline="") as out:
        writer = csv.writer(out)
        writer.writerow(["phone", "name", "tags", "vt:customer_id"])
        for i in range(size):
            tags = f"{TAGS[i % len(TAGS)]};{TAGS[(i * 7) % len(TAGS)]}"
            writer.writerow([f"+336{i:08d}", f"Contact {i}", tags, str(100_000 + i)])


def baseline_parse_seconds(path: Path) -> float:
    started = time.perf_counter()
    with path.open(encoding="utf-8", newline="") as source:
        for _ in csv.reader(source):
            pass
    return time.perf_counter() - started


async def _create_org(db_url: str) -> int:
    from herald.auth import service as auth_service
    from herald.kit.db import Database

    database = Database.connect(db_url)
    try:
        async with database.session() as session:
            org = await auth_service.create_org(session, name=f"bench-{uuid.uuid4().hex[:10]}", secret_key="bench")
            return org.id
    finally:
        await database.dispose()


def _process_cpu_seconds(pid: int | None) -> float | None:
    """utime + stime of a process of this machine; None if it is not one."""
    stat = Path(f"/proc/{pid}/stat")
    if pid is None or not stat.exists():
        return None
    fields = stat.read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


async def _backend_pid(database: Any) -> int | None:
    """The PostgreSQL backend serving this (one-connection) pool."""
    from sqlalchemy import text

    if database.dialect != "postgresql":
        return None
    async with database.session() as session:
        return int(await session.scalar(text("SELECT pg_backend_pid()")))


async def _import(db_url: str, org_id: int, csv_path: Path) -> dict[str, Any]:
    from herald.contacts.importer import import_contacts
    from herald.kit.db import Database

    # One connection, so that one backend does all the server's work (batches are sequential).
    database = Database.connect(db_url, pool_size=1)
    try:
        backend = await _backend_pid(database)
        server_before = _process_cpu_seconds(backend)
        with csv_path.open("rb") as stream:
            cpu_before = time.process_time()
            started = time.perf_counter()
            # As the CLI runs it: a process of its own, parsing inline.
            result = await import_contacts(database, org_id=org_id, stream=stream, parse_in_thread=False)
            seconds = time.perf_counter() - started
            cpu_seconds = time.process_time() - cpu_before
        server_after = _process_cpu_seconds(backend)
        server_cpu = None if server_before is None or server_after is None else server_after - server_before
    finally:
        await database.dispose()
    return {
        "seconds": seconds, "imported": result.imported, "rejected": result.rejected_count,
        "cpu_seconds": cpu_seconds, "server_cpu_seconds": server_cpu,
    }


def _child(db_url: str, csv_path: str) -> None:
    """Runs in the subprocess: one import into a new organization; prints its figures as JSON."""
    org_id = asyncio.run(_create_org(db_url))
    figures = asyncio.run(_import(db_url, org_id, Path(csv_path)))
    # Linux reports ru_maxrss in KiB.
    figures["peak_rss_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(json.dumps(figures))


def _measure(db_url: str, csv_path: Path) -> dict[str, Any]:
    done = subprocess.run(
        [sys.executable, "-m", "bench.bench_import", "--child", db_url, str(csv_path)],
        capture_output=True, text=True, check=True, cwd=ROOT,
    )
    return json.loads(done.stdout.strip().splitlines()[-1])  # type: ignore[no-any-return]


def run(size: int = 200_000, db_url: str | None = None) -> dict[str, Any]:
    """Import ``size`` rows (and ``size // 10`` for the memory comparison); → the figures above."""
    with tempfile.TemporaryDirectory(prefix="herald-bench-import-") as tmp, scratch_database(
        db_url, Path(tmp)
    ) as url:
        workdir = Path(tmp)
        big, small = workdir / "big.csv", workdir / "small.csv"
        write_csv(big, size)
        write_csv(small, max(size // 10, 1))
        full = _measure(url, big)
        tenth = _measure(url, small)
        assert full["imported"] == size and full["rejected"] == 0, full
        return {
            "rows": size,
            "seconds": round(full["seconds"], 3),
            "rows_per_s": round(size / full["seconds"]),
            "peak_rss_mb": round(full["peak_rss_mb"], 1),
            "baseline_parse_seconds": round(baseline_parse_seconds(big), 3),
            "rss_growth_mb": round(full["peak_rss_mb"] - tenth["peak_rss_mb"], 1),
            "cpu_seconds": round(full["cpu_seconds"], 1),
            "server_cpu_seconds": None if full["server_cpu_seconds"] is None else round(full["server_cpu_seconds"], 1),
            "database": "sqlite" if url.startswith("sqlite") else "postgresql",
            "file_mb": round(big.stat().st_size / 1024 / 1024, 1),
        }


if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] == "--child":
        _child(sys.argv[2], sys.argv[3])
    else:
        rows = int(sys.argv[1]) if len(sys.argv) > 1 else 200_000
        print(json.dumps(run(rows, sys.argv[2] if len(sys.argv) > 2 else None), indent=2))
