"""``make bench``: every benchmark on SQLite and PostgreSQL, a table, and ``bench/results.json``.

Each row is a figure measured against a baseline taken in the same run (the machine is shared
and noisy: ratios, not absolute times). ``--full`` uses the issue's sizes (1,000,000 contacts,
100,000 messages, 60 s / 5 min of pacing); the default sizes finish in about twenty minutes here.
``--only NAME[,NAME]`` runs some rows; ``--sqlite-only`` skips PostgreSQL.
"""

from __future__ import annotations

import argparse
import json
import time
import traceback
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table

from bench import (
    bench_audience,
    bench_dispatch,
    bench_events,
    bench_import,
    bench_reports,
    bench_webhooks,
    bench_windows,
)
from bench.common import postgres_url

RESULTS = Path(__file__).with_name("results.json")


@dataclass(frozen=True)
class Bench:
    name: str
    run: Callable[..., dict[str, Any]]
    quick: dict[str, Any]
    full: dict[str, Any]
    postgres: bool = True  # run on PostgreSQL too


def _webhooks(events: int, db_url: str | None) -> dict[str, Any]:
    r = bench_webhooks.run(events, db_url)
    # p99 answers at 3,000 events/s offered (open loop), without and with a campaign sending.
    ok = r["events_per_s"] >= 3000 and r["p99_ms"] < 100 and r["campaign_p99_ms"] < 100
    return {"figure": r["events_per_s"], "baseline": r["baseline_events_per_s"], "ratio": r["ratio"],
            "target": ">= 3000/s applied, p99 < 100 ms (also while a campaign sends)", "pass": ok,
            "p99_ms": r["p99_ms"], "campaign_p99_ms": r["campaign_p99_ms"], "baseline_p99_ms": r["baseline_p99_ms"],
            "unit": "events/s"}


def _stats(n_large: int, db_url: str | None) -> dict[str, Any]:
    r = bench_reports.run_stats(1_000, n_large, db_url)
    return {"figure": r["large_ms"], "baseline": r["small_ms"], "ratio": r["ratio"], "target": "ratio <= 1.5",
            "pass": r["ratio"] <= 1.5, "unit": "ms"}


def _export(rows: int, db_url: str | None) -> dict[str, Any]:
    r = bench_reports.run_export(rows, db_url)
    ok = r["ratio"] >= 0.5 and r["peak_rss_mb"] < 200
    return {"figure": r["rows_per_s"], "baseline": r["baseline_rows_per_s"], "ratio": r["ratio"],
            "target": ">= 0.5 x, peak RSS < 200 MB", "pass": ok, "peak_rss_mb": r["peak_rss_mb"], "unit": "rows/s"}


def _import(rows: int, db_url: str | None) -> dict[str, Any]:
    r = bench_import.run(rows, db_url)
    # The target is for 1,000,000 rows; smaller runs are scaled linearly to compare.
    projected = r["seconds"] * 1_000_000 / rows
    ok = projected < 90 and r["peak_rss_mb"] < 300
    return {"figure": r["seconds"], "baseline": r["baseline_parse_seconds"],
            "ratio": round(r["seconds"] / max(r["baseline_parse_seconds"], 1e-9), 1),
            "target": "< 90 s per 1M rows, peak RSS < 300 MB", "pass": ok, "rows": rows,
            "projected_1m_s": round(projected, 1), "peak_rss_mb": r["peak_rss_mb"], "unit": "s"}


def _audience(n: int, db_url: str | None) -> dict[str, Any]:
    r = bench_audience.run(n, db_url)
    # The targets are for 1,000,000 contacts; smaller runs are scaled linearly to compare.
    limit = 10.0 if db_url else 30.0
    projected = r["figure"] * 1_000_000 / n
    r.update(projected_1m_s=round(projected, 1), target=f"< {limit:g} s per 1M contacts",
             **{"pass": projected < limit and r["materialized"] == n})
    return r


def _events_out(events: int, db_url: str | None) -> dict[str, Any]:
    r = bench_events.run(events, db_url)
    # A receiver answering in 2 s must not slow the sends nor the webhook answers (issue 24).
    ok = r["send_ratio"] >= 0.9 and r["p99_ratio"] <= r["p99_ratio_max"]
    return {"figure": r["p99_ms"], "baseline": r["baseline_p99_ms"], "ratio": r["p99_ratio"],
            "target": f"with a 2 s receiver: sends >= 0.9 x, webhook p99 <= {r['p99_ratio_max']:g} x", "pass": ok,
            "sends_per_s": r["sends_per_s"], "baseline_sends_per_s": r["baseline_sends_per_s"],
            "send_ratio": r["send_ratio"], "with": r["with"], "without": r["without"], "unit": "ms p99"}


BENCHES = [
    Bench("dispatch ceiling", lambda n, db_url: bench_dispatch.run_ceiling(n, db_url), {"n": 20_000}, {"n": 100_000}),
    Bench("dispatch top tier", lambda n, db_url: bench_dispatch.run_top_tier(n, db_url), {"n": 20_000}, {"n": 100_000}),
    Bench("dispatch vs pywa", lambda n, db_url: bench_dispatch.run_vs_pywa(n, 200, db_url), {"n": 5_000},
          {"n": 20_000}, postgres=False),
    Bench("pacing 20/s", lambda s, db_url: bench_dispatch.run_pacing_per_second(20, s, db_url), {"s": 30},
          {"s": 60}, postgres=False),
    Bench("pacing 3600/h", lambda s, db_url: bench_dispatch.run_pacing_per_hour(3600, s, db_url), {"s": 90},
          {"s": 300}, postgres=False),
    Bench("pacing across windows", lambda s, db_url: bench_windows.run(20, s, db_url), {"s": 60}, {"s": 180}),
    Bench("webhooks applied", _webhooks, {"events": 20_000}, {"events": 60_000}),
    Bench("audience materialisation", _audience, {"n": 200_000},
          {"n": 1_000_000}),
    Bench("materialise with holdout + variants + cap",
          lambda n, db_url: bench_audience.run_experiment(n, db_url), {"n": 200_000}, {"n": 1_000_000}),
    Bench("stats read", _stats, {"n_large": 200_000}, {"n_large": 1_000_000}),
    Bench("csv export", _export, {"rows": 200_000}, {"rows": 1_000_000}),
    Bench("contact import", _import, {"rows": 100_000}, {"rows": 1_000_000}),
    Bench("many numbers", lambda n, db_url: bench_dispatch.run_many_numbers(n, db_url), {"n": 12_000},
          {"n": 48_000}),
    Bench("events out", _events_out, {"events": 20_000}, {"events": 60_000}),
    Bench("scale-out 2 workers", lambda n, db_url: bench_dispatch.run_scale_out(n, db_url), {"n": 20_000},
          {"n": 100_000}),
]
POSTGRES_ONLY = {"scale-out 2 workers"}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--full", action="store_true", help="the issue's sizes (much longer)")
    parser.add_argument("--only", default="", help="comma-separated benchmark names")
    parser.add_argument("--sqlite-only", action="store_true")
    args = parser.parse_args()
    only = {n.strip() for n in args.only.split(",") if n.strip()}
    pg = None if args.sqlite_only else postgres_url()
    console = Console()
    # With --only, the other rows of the last run are kept, so the table stays whole.
    rows: list[dict[str, Any]] = json.loads(RESULTS.read_text()) if only and RESULTS.exists() else []
    for bench in BENCHES:
        if only and bench.name not in only:
            continue
        params = bench.full if args.full else bench.quick
        databases: list[tuple[str, str | None]] = []
        if bench.name not in POSTGRES_ONLY:
            databases.append(("sqlite", None))
        if pg and (bench.postgres or bench.name in POSTGRES_ONLY):
            databases.append(("postgresql", pg))
        for label, url in databases:
            console.print(f"[bold]{bench.name}[/bold] on {label} {params} …")
            started = time.monotonic()
            try:
                result = bench.run(*params.values(), db_url=url)
            except Exception as exc:  # one failing benchmark must not hide the others
                traceback.print_exc()
                result = {"figure": None, "baseline": None, "ratio": None, "target": "", "pass": False,
                          "error": f"{type(exc).__name__}: {exc}"}
            result.update(name=bench.name, database=label, seconds=round(time.monotonic() - started, 1),
                          params=params)
            rows = [r for r in rows if (r["name"], r["database"]) != (bench.name, label)] + [result]
            RESULTS.write_text(json.dumps(rows, indent=2, default=str))
    console.print(_table(rows))
    console.print(f"results written to {RESULTS}")


def _table(rows: list[dict[str, Any]]) -> Table:
    table = Table(title="Herald benchmarks")
    for column in ("figure", "database", "value", "baseline", "ratio", "target", "pass"):
        table.add_column(column)
    for r in rows:
        value = f"{r['figure']} {r.get('unit', '')}".strip() if r.get("figure") is not None else r.get("error", "")
        table.add_row(r["name"], r["database"], value, str(r.get("baseline")), str(r.get("ratio")), r.get("target", ""),
                      "[green]pass[/green]" if r.get("pass") else "[red]fail[/red]")
    return table


if __name__ == "__main__":
    main()
