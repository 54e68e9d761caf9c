"""Benchmarks: reading a campaign's stats at 1,000 vs 1,000,000 messages, and the CSV report export.

``run_stats`` seeds two campaigns (``n_small`` and ``n_large`` messages, inserted with one
``INSERT … SELECT`` over a generated series, counters set to match) and times
``herald.reports.service.get_stats`` — the code behind ``GET /campaigns/{id}/stats`` — on each.
Stats come from the counter rows, so the ratio large / small should stay near 1 (target ≤ 1.5).

``run_export`` seeds one campaign of ``rows`` messages, serves Herald in a subprocess, downloads
``GET /campaigns/{id}/report.csv`` with a streaming client, and samples the server's resident
memory with psutil while it streams. Figures: rows/s against a baseline that writes rows of the same
shape with the ``csv`` module from memory in this process (target ≥ 0.5× the baseline), and the
server's peak RSS (target < 200 MB, flat in the number of rows). For reading a noisy, shared
machine it also reports CPU seconds, which other processes' load does not inflate: the server
process's (its event loop and SQLite's reader threads), PostgreSQL's backends for the scratch
database (local server only), and the baseline's. They are diagnostics; the ratio stays wall time.

Without ``db_url`` both use a temporary SQLite database (the embedded default); with a PostgreSQL
URL they create a throwaway database on that server and drop it afterwards.
Run: ``python -m bench.bench_reports [stats|export|all] [SIZE] [DB_URL]``.
"""

from __future__ import annotations

import asyncio
import csv
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from pathlib import Path
from typing import Any

import psutil

from bench.common import free_port, scratch_database

SECRET_KEY = "bench-secret-key-" + "x" * 32
STATS_READS = 200
BASELINE_BLOCK = 10_000
T0 = "2026-11-27 10:00:00"
# Status by contact id modulo 10: a campaign well under way, every bucket populated.
STATUS_CASE = (
    "CASE id % 10 WHEN 0 THEN 'read' WHEN 6 THEN 'sent' WHEN 7 THEN 'sent' WHEN 8 THEN 'failed'"
    " WHEN 9 THEN 'pending' ELSE 'delivered' END"
)


def _time(postgres: bool, seconds: int) -> str:
    """A SQL literal: T0 plus ``seconds``, in the form each dialect stores."""
    stamp = f"2026-11-27 10:{seconds // 60:02d}:{seconds % 60:02d}"
    return f"timestamptz '{stamp}+00'" if postgres else f"'{stamp}.000000'"


def _series(postgres: bool, n: int) -> tuple[str, str]:
    """(WITH prefix, FROM clause) producing integers 1..n as ``i``."""
    if postgres:
        return "", f"generate_series(1, {int(n)}) AS s(i)"
    return f"WITH RECURSIVE s(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM s WHERE i < {int(n)}) ", "s"


async def seed_contacts(session: Any, *, org_id: int, n: int) -> None:
    from sqlalchemy import text

    postgres = session.get_bind().dialect.name == "postgresql"
    prefix, source = _series(postgres, n)
    phone = "'+336' || lpad(i::text, 8, '0')" if postgres else "'+336' || printf('%08d', i)"
    now = _time(postgres, 0)
    await session.execute(text(
        f"{prefix}INSERT INTO contacts (org_id, phone, phone_raw, name, created_at, updated_at) "
        f"SELECT {int(org_id)}, {phone}, {phone}, 'Contact ' || i, {now}, {now} FROM {source}"
    ))


async def seed_campaign(session: Any, *, org_id: int, n: int, name: str) -> int:
    """A campaign over the org's first ``n`` contacts, its messages in one INSERT … SELECT, counters to match."""
    from sqlalchemy import text

    from herald.campaigns import counters
    from herald.models import Campaign

    postgres = session.get_bind().dialect.name == "postgresql"
    campaign = Campaign(org_id=org_id, name=name, status="active", kind="real", missing=[])
    session.add(campaign)
    await session.flush()
    await counters.ensure_row(session, campaign_id=campaign.id)
    t = {s: _time(postgres, s) for s in (0, 1, 5, 60, 120)}
    received = "status IN ('delivered', 'read')"
    await session.execute(text(
        f"INSERT INTO campaign_messages (campaign_id, contact_id, status, attempts, error_msg, wamid, sent_at,"
        f" delivered_at, read_at, failed_at, replied_at) "
        f"SELECT campaign_id, id, status, 1,"
        f" CASE WHEN status = 'failed' THEN 'not a valid WhatsApp user' END,"
        f" CASE WHEN status <> 'pending' THEN 'wamid.' || id END,"
        f" CASE WHEN status <> 'pending' THEN {t[0]} END,"
        f" CASE WHEN {received} THEN {t[5]} END,"
        f" CASE WHEN status = 'read' THEN {t[60]} END,"
        f" CASE WHEN status = 'failed' THEN {t[1]} END,"
        f" CASE WHEN status = 'read' AND id % 20 = 0 THEN {t[120]} END "
        f"FROM (SELECT {campaign.id} AS campaign_id, id, {STATUS_CASE} AS status FROM contacts"
        f" WHERE org_id = {int(org_id)} ORDER BY id LIMIT {int(n)}) AS picked"
    ))
    await _count(session, campaign_id=campaign.id)
    # Fresh statistics, as autovacuum would have gathered them after a launch this size.
    await session.execute(text("ANALYZE campaign_messages"))
    await session.execute(text("ANALYZE contacts"))
    return campaign.id


async def _count(session: Any, *, campaign_id: int) -> None:
    """Counters for the seeded rows, as the engine would have kept them."""
    from sqlalchemy import func, select

    from herald.campaigns import counters
    from herald.campaigns.message_state import bucket
    from herald.models import CampaignMessage as M

    rows = await session.execute(
        select(M.status, func.count(), func.count(M.replied_at)).where(M.campaign_id == campaign_id).group_by(M.status)
    )
    totals: Counter[str] = Counter()
    for status, count, replied in rows:
        totals["targeted"] += count
        totals[bucket(status)] += count
        if status in ("delivered", "read"):
            totals["received"] += count
            totals["replied"] += replied
        if status == "read":
            totals["read"] += count
    await counters.add(session, campaign_id=campaign_id, **totals)
    if totals["not_sent"]:
        await counters.add_not_sent_reasons(
            session, campaign_id=campaign_id, reasons=Counter({"not a valid WhatsApp user": totals["not_sent"]})
        )


async def _create_org(session: Any) -> int:
    from herald.auth import service as auth_service

    org = await auth_service.create_org(session, name=f"bench-{uuid.uuid4().hex[:10]}", secret_key=SECRET_KEY)
    return int(org.id)


async def _stats_seconds(database: Any, *, org_id: int, campaign_id: int, reads: int) -> float:
    """Median seconds of one stats read, each in its own read session as a request would."""
    from herald.reports import service

    timings = []
    for _ in range(reads):
        started = time.perf_counter()
        async with database.read_session() as session:
            await service.get_stats(session, org_id=org_id, campaign_id=campaign_id)
        timings.append(time.perf_counter() - started)
    return statistics.median(timings)


async def _run_stats(url: str, n_small: int, n_large: int) -> dict[str, Any]:
    from herald.kit.db import Database

    database = Database.connect(url)
    try:
        async with database.session() as session:
            org_id = await _create_org(session)
            await seed_contacts(session, org_id=org_id, n=max(n_small, n_large))
        async with database.session() as session:
            small = await seed_campaign(session, org_id=org_id, n=n_small, name="small")
        async with database.session() as session:
            large = await seed_campaign(session, org_id=org_id, n=n_large, name="large")
        await _stats_seconds(database, org_id=org_id, campaign_id=large, reads=20)
        small_s = await _stats_seconds(database, org_id=org_id, campaign_id=small, reads=STATS_READS)
        large_s = await _stats_seconds(database, org_id=org_id, campaign_id=large, reads=STATS_READS)
    finally:
        await database.dispose()
    return {"small_ms": round(small_s * 1000, 3), "large_ms": round(large_s * 1000, 3),
            "ratio": round(large_s / small_s, 2)}


def run_stats(n_small: int = 1_000, n_large: int = 1_000_000, db_url: str | None = None) -> dict[str, Any]:
    """Median stats read time at ``n_small`` and ``n_large`` messages; ``ratio`` = large / small (target ≤ 1.5)."""
    with tempfile.TemporaryDirectory(prefix="herald-bench-reports-") as tmp, scratch_database(
        db_url, Path(tmp)
    ) as url:
        started = time.perf_counter()
        figures = asyncio.run(_run_stats(url, n_small, n_large))
        return {"n_small": n_small, "n_large": n_large, **figures, "target_ratio": 1.5,
                "database": "sqlite" if url.startswith("sqlite") else "postgresql",
                "total_seconds": round(time.perf_counter() - started, 1)}


async def _seed_export(url: str, rows: int) -> tuple[int, int, str]:
    """(org id, campaign id, an API key of that org)."""
    from herald.auth import service as auth_service
    from herald.auth.principal import Role
    from herald.kit.db import Database

    database = Database.connect(url)
    try:
        async with database.session() as session:
            org_id = await _create_org(session)
            _, key = await auth_service.create_api_key(
                session, org_id=org_id, role=Role.viewer, name="bench", secret_key=SECRET_KEY
            )
            await seed_contacts(session, org_id=org_id, n=rows)
        async with database.session() as session:
            campaign_id = await seed_campaign(session, org_id=org_id, n=rows, name="export")
    finally:
        await database.dispose()
    return org_id, campaign_id, key


def _serve(url: str, port: int, var_dir: str) -> None:
    """Runs in the subprocess: Herald's app under uvicorn, no worker."""
    import uvicorn
    from cryptography.fernet import Fernet

    from herald.app import create_app
    from herald.config import Settings

    settings = Settings(var_dir=Path(var_dir), database_url=url, secret_key=SECRET_KEY,
                        encryption_keys=Fernet.generate_key().decode(), embedded_worker=False,
                        allow_private_urls=True).resolved()
    uvicorn.run(create_app(settings), host="127.0.0.1", port=port, log_level="warning")


@contextmanager
def _server(url: str, var_dir: Path) -> Iterator[tuple[str, psutil.Process]]:
    import httpx

    port = free_port()
    process = subprocess.Popen(
        [sys.executable, "-m", "bench.bench_reports", "--serve", url, str(port), str(var_dir)],
        cwd=Path(__file__).resolve().parent.parent,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                httpx.get(f"{base}/openapi.json", timeout=5)
                break
            except httpx.TransportError:
                if time.monotonic() > deadline or process.poll() is not None:
                    raise RuntimeError("the Herald server did not start") from None
                time.sleep(0.2)
        yield base, psutil.Process(process.pid)
    finally:
        process.terminate()
        process.wait(timeout=30)


class _PeakRss(threading.Thread):
    """Samples a process's resident memory every 20 ms until stopped; keeps the peak."""

    def __init__(self, process: psutil.Process) -> None:
        super().__init__(daemon=True)
        self.process = process
        self.peak = process.memory_info().rss
        self._stop_event = threading.Event()

    def run(self) -> None:
        while not self._stop_event.wait(0.02):
            self.peak = max(self.peak, self.process.memory_info().rss)

    def stop(self) -> int:
        self._stop_event.set()
        self.join()
        return self.peak


def _download(base: str, campaign_id: int, key: str) -> tuple[int, int, float]:
    """(data rows, bytes, seconds) of one streamed download."""
    import httpx

    lines = size = 0
    started = time.perf_counter()
    with httpx.stream("GET", f"{base}/api/v1/campaigns/{campaign_id}/report.csv",
                      headers={"Authorization": f"Bearer {key}"}, timeout=600) as response:
        response.raise_for_status()
        for chunk in response.iter_bytes():
            size += len(chunk)
            lines += chunk.count(b"\n")  # no newline inside a seeded cell
    return lines - 1, size, time.perf_counter() - started


def _postgres_cpu_s(url: str) -> float | None:
    """CPU seconds of the local PostgreSQL backends connected to ``url``'s database; None on SQLite."""
    if url.startswith("sqlite"):
        return None
    from sqlalchemy.engine import make_url

    database = f" {make_url(url).database} "
    total = 0.0
    for process in psutil.process_iter(["username", "cmdline"]):
        with suppress(psutil.Error):
            if process.info["username"] == "postgres" and database in " ".join(process.info["cmdline"] or []) + " ":
                times = process.cpu_times()
                total += times.user + times.system
    return total


def _cpu_s(process: psutil.Process) -> float:
    times = process.cpu_times()
    return times.user + times.system


def baseline_rows_per_s(rows: int) -> float:
    """The csv module writing ``rows`` rows of the report's shape from memory (a block reused) to /dev/null."""
    return _baseline(rows)[0]


def _baseline(rows: int) -> tuple[float, float]:
    """(rows/s, CPU seconds) of the baseline."""
    block = [
        (i, f"+336{i:08d}", f"Contact {i}", "delivered", "", "2026-11-27T10:00:00Z", "2026-11-27T10:00:05Z", "",
         "", f"wamid.{i}", "{}")
        for i in range(BASELINE_BLOCK)
    ]
    started, cpu_started = time.perf_counter(), time.process_time()
    with open(os.devnull, "w", newline="") as sink:
        writer = csv.writer(sink, lineterminator="\r\n")
        written = 0
        while written < rows:
            part = block[: rows - written]
            writer.writerows(part)
            written += len(part)
    return rows / (time.perf_counter() - started), time.process_time() - cpu_started


def run_export(rows: int = 1_000_000, db_url: str | None = None) -> dict[str, Any]:
    """Export rows/s and the server's peak RSS for a campaign of ``rows`` messages, against the csv baseline."""
    with tempfile.TemporaryDirectory(prefix="herald-bench-export-") as tmp, scratch_database(
        db_url, Path(tmp)
    ) as url:
        _, campaign_id, key = asyncio.run(_seed_export(url, rows))
        with _server(url, Path(tmp) / "var") as (base, process):
            idle_mb = process.memory_info().rss / 2**20
            sampler = _PeakRss(process)
            server_cpu, database_cpu = _cpu_s(process), _postgres_cpu_s(url)
            sampler.start()
            exported, size, seconds = _download(base, campaign_id, key)
            peak_mb = sampler.stop() / 2**20
            server_cpu = _cpu_s(process) - server_cpu
            database_cpu_after = _postgres_cpu_s(url)
            if database_cpu is not None and database_cpu_after is not None:
                database_cpu = database_cpu_after - database_cpu
        assert exported == rows, (exported, rows)
        baseline, baseline_cpu = _baseline(rows)
        return {
            "rows": rows, "seconds": round(seconds, 2), "rows_per_s": round(rows / seconds),
            "baseline_rows_per_s": round(baseline), "ratio": round(rows / seconds / baseline, 2),
            "target_ratio": 0.5, "peak_rss_mb": round(peak_mb, 1), "idle_rss_mb": round(idle_mb, 1),
            "target_peak_rss_mb": 200, "file_mb": round(size / 2**20, 1),
            "server_cpu_s": round(server_cpu, 2), "database_cpu_s": None if database_cpu is None else round(database_cpu, 2),
            "baseline_cpu_s": round(baseline_cpu, 2),
            "database": "sqlite" if url.startswith("sqlite") else "postgresql",
        }


def main(argv: list[str]) -> None:
    import json

    which = argv[0] if argv else "all"
    size = int(argv[1]) if len(argv) > 1 else 1_000_000
    db_url = argv[2] if len(argv) > 2 else None
    results: dict[str, Any] = {}
    if which in ("stats", "all"):
        results["stats"] = run_stats(n_large=size, db_url=db_url)
    if which in ("export", "all"):
        results["export"] = run_export(rows=size, db_url=db_url)
    print(json.dumps(results, indent=2))


if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] == "--serve":
        _serve(sys.argv[2], int(sys.argv[3]), sys.argv[4])
    else:
        main(sys.argv[1:])
