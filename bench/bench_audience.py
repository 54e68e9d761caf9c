"""Benchmark: materialising a campaign's audience of N tagged contacts (default 1,000,000).

Measures the time to turn the segment into campaign messages and engagements (the keyset-chunked
``INSERT … SELECT`` of ``dispatch/materialize.py``, counters included), against a baseline
measured in the same run: ``SELECT COUNT(*)`` of the same segment. Targets: under 10 s on
PostgreSQL, under 30 s on SQLite. Run: ``python -m bench.bench_audience [N] [DB_URL]``.

Besides the wall time (the figure), ``cpu_seconds`` / ``server_cpu_seconds`` give the CPU time the
materialising process and, on PostgreSQL, its server backend spent (one connection, read from
``/proc``, so only for a server on this machine). On a machine shared with other benchmarks the wall
time mostly measures the queue for the cores; these say how much work materialising needed.
"""

from __future__ import annotations

import asyncio
import json
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from sqlalchemy import create_engine, func, select, text

from bench import seed as seeding
from bench.bench_import import _backend_pid, _process_cpu_seconds
from bench.common import scratch_database, sync_url


async def _materialize(db_url: str, campaign_ids: list[int]) -> dict[str, Any]:
    from herald.dispatch.materialize import materialize_chunk
    from herald.kit.db import Database

    # One connection, so that one backend does all the server's work (chunks are sequential).
    database = Database.connect(db_url, pool_size=1)
    try:
        backend = await _backend_pid(database)
        server_before = _process_cpu_seconds(backend)
        cpu_before = time.process_time()
        start = time.perf_counter()
        for campaign_id in campaign_ids:
            while True:
                async with database.session() as session:
                    if not await materialize_chunk(session, campaign_id=campaign_id):
                        break
        seconds = time.perf_counter() - start
        cpu_seconds = time.process_time() - cpu_before
        server_after = _process_cpu_seconds(backend)
    finally:
        await database.dispose()
    server_cpu = None if server_before is None or server_after is None else round(server_after - server_before, 2)
    return {"seconds": seconds, "cpu_seconds": round(cpu_seconds, 2), "server_cpu_seconds": server_cpu}


async def _count_segment(db_url: str, org_id: int) -> tuple[int, float]:
    from herald.campaigns.segments import segment_filter
    from herald.kit.db import Database
    from herald.models import Contact

    database = Database.connect(db_url)
    try:
        async with database.read_session() as session:
            where = await segment_filter(session, org_id=org_id, audience={"tags_any": ["t0"]})
            start = time.perf_counter()
            count = (await session.execute(select(func.count()).select_from(Contact).where(where))).scalar_one()
            return int(count), time.perf_counter() - start
    finally:
        await database.dispose()


def run(contacts: int = 1_000_000, db_url: str | None = None) -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix="herald-bench-audience-") as tmp, scratch_database(db_url, Path(tmp)) as url:
        seeded = seeding.seed(url, contacts=contacts, numbers=[("1090001", "2090001")], base_url="http://127.0.0.1:9",
                              throughput=80, rate_per_second=20, status="active")
        engine = create_engine(sync_url(url))
        if url.startswith("postgresql"):
            with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
                conn.execute(text("ANALYZE"))
        count, count_seconds = asyncio.run(_count_segment(url, seeded.org_id))
        work = asyncio.run(_materialize(url, seeded.campaign_ids))
        seconds = work.pop("seconds")
        with engine.connect() as conn:
            materialized = conn.execute(text("SELECT count(*) FROM campaign_messages")).scalar_one()
        engine.dispose()
    target = 10.0 if url.startswith("postgresql") else 30.0
    return {"figure": round(seconds, 2), "baseline": round(count_seconds, 3), "ratio": round(seconds / max(count_seconds, 1e-9), 1),
            "target": f"< {target:g} s", "pass": seconds < target and materialized == count == contacts,
            "contacts": contacts, "materialized": int(materialized), "unit": "s", **work}


# The experiment row's campaign: a 10 % holdout, three even variants, and the organization's frequency cap.
EXPERIMENT_VARIANTS = [{}, {"variables": {"1": {"source": "text", "value": "B"}}},
                       {"variables": {"1": {"source": "text", "value": "C"}}}]


def _materialized_once(contacts: int, db_url: str | None, *, experiment: bool) -> dict[str, Any]:
    """A fresh database seeded alike, its campaign materialised once; with ``experiment``, the campaign
    has the holdout and variants and the organization a frequency cap."""
    from herald.models import Campaign, Organization

    with tempfile.TemporaryDirectory(prefix="herald-bench-experiment-") as tmp, \
            scratch_database(db_url, Path(tmp)) as url:
        seeded = seeding.seed(url, contacts=contacts, numbers=[("1090001", "2090001")], base_url="http://127.0.0.1:9",
                              throughput=80, rate_per_second=20, status="active")
        engine = create_engine(sync_url(url))
        if experiment:
            with engine.begin() as conn:
                conn.execute(Campaign.__table__.update().values(
                    holdout_percent=10.0, variants=EXPERIMENT_VARIANTS, experiment_seed=20261206))
                conn.execute(Organization.__table__.update().values(frequency_cap_messages=2, frequency_cap_days=7))
        if url.startswith("postgresql"):
            with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
                conn.execute(text("ANALYZE"))
        work = asyncio.run(_materialize(url, seeded.campaign_ids))
        with engine.connect() as conn:
            counted = dict(conn.execute(text("SELECT status, count(*) FROM campaign_messages GROUP BY status")).all())
            variants = conn.execute(text("SELECT count(DISTINCT variant) FROM campaign_messages")).scalar_one()
        engine.dispose()
    return {**work, "statuses": {str(k): int(v) for k, v in counted.items()}, "variants": int(variants)}


def run_experiment(contacts: int = 1_000_000, db_url: str | None = None) -> dict[str, Any]:
    """Materialising with a 10 % holdout, 3 variants and a frequency cap, against today's plain
    materialisation of the same audience measured in the same run (each on a fresh database). Target:
    under 2 x. The frequency cap costs nothing here: it is applied as messages are claimed."""
    plain = _materialized_once(contacts, db_url, experiment=False)
    tested = _materialized_once(contacts, db_url, experiment=True)
    ratio = tested["seconds"] / max(plain["seconds"], 1e-9)
    held = tested["statuses"].get("holdout", 0)
    right = (sum(tested["statuses"].values()) == contacts and abs(held - contacts / 10) < contacts / 50
             and tested["variants"] == 3)
    return {"figure": round(tested["seconds"], 2), "baseline": round(plain["seconds"], 2), "ratio": round(ratio, 2),
            "target": "< 2 x plain materialisation", "pass": ratio < 2 and right, "contacts": contacts,
            "holdout": held, "cpu_seconds": tested["cpu_seconds"], "baseline_cpu_seconds": plain["cpu_seconds"],
            "server_cpu_seconds": tested["server_cpu_seconds"],
            "baseline_server_cpu_seconds": plain["server_cpu_seconds"], "unit": "s"}


if __name__ == "__main__":
    size = int(sys.argv[1]) if len(sys.argv) > 1 else 1_000_000
    print(json.dumps(run(size, sys.argv[2] if len(sys.argv) > 2 else None), indent=2))
