"""``herald demo`` end to end, as a user runs it: a subprocess in a directory of its own."""

from __future__ import annotations

import csv
import os
import queue
import re
import signal
import socket
import subprocess
import sys
import threading
import time
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

import httpx
import psutil
import pytest

from herald.campaigns import experiment
from herald.demo import data

pytestmark = pytest.mark.process

CONTACTS = 300
REPORT_HEADER = ["contact_id", "phone", "name", "status", "error_msg", "sent_at", "delivered_at", "read_at",
                 "replied_at", "wamid", "time_per_funnel_step", "wa_user_id", "attempts", "last_error", "waiting",
                 "pricing_category", "price", "variant"]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def demo_env() -> dict[str, str]:
    # The demo must not pick up a test database or a developer's settings.
    env = {k: v for k, v in os.environ.items() if not k.startswith("HERALD_")}
    return {**env, "COLUMNS": "100", "PYTHONUNBUFFERED": "1"}


def demo_command(port: int, sim_port: int, *extra: str) -> list[str]:
    return [sys.executable, "-m", "herald", "demo", "--no-browser", "--contacts", str(CONTACTS),
            "--port", str(port), "--sim-port", str(sim_port), *extra]


@dataclass
class Run:
    returncode: int
    output: str
    seconds: float


def run_campaign(cwd: Path, *extra: str) -> Run:
    started = time.monotonic()
    done = subprocess.run(demo_command(free_port(), free_port(), "--run-campaign", *extra), cwd=cwd, env=demo_env(),
                          capture_output=True, text=True, timeout=120)
    return Run(done.returncode, done.stdout + done.stderr, time.monotonic() - started)


def row(output: str, label: str) -> int:
    """The count in the stats table's row ``label`` (cells are separated by │)."""
    match = re.search(rf"│\s*{re.escape(label)}\s*│\s*(\d+)\s*│", output)
    assert match, f"no row {label!r} in:\n{output}"
    return int(match.group(1))


@pytest.fixture(scope="module")
def workdir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("demo")


@pytest.fixture(scope="module")
def first_run(workdir: Path) -> Run:
    return run_campaign(workdir)


def seed_of(output: str) -> int:
    match = re.search(r"^Holdout: 10% of the eligible audience kept unsent \(seed (\d+)\)", output, re.MULTILINE)
    assert match, output
    return int(match.group(1))


def report_rows(workdir: Path) -> list[dict[str, str]]:
    with (workdir / "var" / "demo" / "campaign-1-report.csv").open(newline="") as report:
        return list(csv.DictReader(report))


def expected_groups(output: str, rows: list[dict[str, str]]) -> tuple[set[int], dict[int, str]]:
    """The contacts the campaign's seed holds out, and the variant it draws for each of the others
    (``campaigns/experiment.py``): every demo contact is eligible when the campaign starts."""
    seed = seed_of(output)
    ids = [int(r["contact_id"]) for r in rows]
    held = {i for i in ids if experiment.is_holdout(seed, data.HOLDOUT_PERCENT, i)}
    variants = {i: "AB"[experiment.variant_of(seed, [50.0, 50.0], i)] for i in ids if i not in held}
    return held, variants


def held_positions(output: str, rows: list[dict[str, str]]) -> set[int]:
    """The demo positions (``data.contact(i)``) of the contacts the campaign's seed holds out."""
    held, _ = expected_groups(output, rows)
    index_of = {data.phone(i): i for i in range(CONTACTS)}
    return {index_of[r["phone"]] for r in rows if int(r["contact_id"]) in held}


class TestRunCampaign:
    def test_exits_0_printing_the_key_and_the_stats(self, first_run: Run, workdir: Path) -> None:
        output = first_run.output
        assert first_run.returncode == 0, output
        assert re.search(r"^API_KEY=hrld_\S+$", output, re.MULTILINE)
        assert "login: demo@herald.local / herald-demo" in output
        assert "template 'named_promo' is listed as unusable" in output
        held_index = held_positions(output, report_rows(workdir))
        assert row(output, "targeted") == CONTACTS
        assert row(output, "holdout") == len(held_index) > 0
        # Every 20th contact lacks member_id, every 100th has an open case, every 50th is not on WhatsApp;
        # a held-out one is held out (never tried) rather than not sent.
        missing = sum(1 for i in range(CONTACTS) if data.lacks_member_id(i) and i not in held_index)
        cases = sum(1 for i in range(CONTACTS) if data.has_open_case(i) and i not in held_index)
        unreachable = sum(1 for i in range(CONTACTS) if data.is_unreachable(i) and i not in held_index)
        assert row(output, "valued tag 'member_id' missing") == missing
        assert row(output, "contact has an open case in Inbox") == cases
        assert row(output, "not a valid WhatsApp user") == unreachable
        assert row(output, "not sent") == missing + cases + unreachable
        assert row(output, "sent") == CONTACTS - len(held_index) - row(output, "not sent")
        assert row(output, "replied") > 0
        # The bot recorded a step for every reply (give or take one arriving as the table is printed).
        assert abs(row(output, "funnel: replied") - row(output, "replied")) <= 2
        assert row(output, "funnel: offer_viewed") > 0

    def test_the_campaign_has_a_window_open_now_a_holdout_and_two_variants(self, first_run: Run) -> None:
        output = first_run.output
        assert first_run.returncode == 0, output
        window = re.search(r"^send window: (\d\d:\d\d)-(\d\d:\d\d) every day, in each contact's local time "
                           r"\(open now in America/Los_Angeles 150, Europe/Lisbon 75, Europe/Berlin 75\)$",
                           output, re.MULTILINE)
        assert window is not None, output
        assert "experiment: 10% holdout; variants A welcome, B winter_teaser, split evenly" in output
        assert not re.search(r"waiting", output)  # nobody waited for a window: the campaign finished

    def test_every_contact_not_held_out_was_sent_its_drawn_variant(self, first_run: Run, workdir: Path) -> None:
        assert first_run.returncode == 0, first_run.output
        rows = report_rows(workdir)
        held, variants = expected_groups(first_run.output, rows)
        assert {int(r["contact_id"]) for r in rows if r["status"] == "holdout"} == held
        for r in rows:
            contact_id = int(r["contact_id"])
            if contact_id in held:
                assert (r["sent_at"], r["variant"], r["attempts"]) == ("", "", "0"), r
            elif r["status"] != "not_sent":  # sent, or accepted and failed (not on WhatsApp)
                assert r["sent_at"] and r["variant"] == variants[contact_id], r
        sent = Counter(r["variant"] for r in rows if r["status"] not in ("holdout", "not_sent", "failed"))
        assert set(sent) == {"A", "B"}
        # The variants table counts the same sends, each variant about half of them.
        table = re.search(r"│ sent\s*│\s*(\d+) │\s*(\d+) │", first_run.output)
        assert table is not None, first_run.output
        assert (int(table.group(1)), int(table.group(2))) == (sent["A"], sent["B"])
        assert abs(sent["A"] - sent["B"]) < 0.3 * (sent["A"] + sent["B"])

    def test_the_lift_compares_conversions_of_the_sent_group_and_the_holdout(self, first_run: Run,
                                                                             workdir: Path) -> None:
        output = first_run.output
        assert first_run.returncode == 0, output
        assert re.search(r"^shop \(simulated\): \d+ organic 'converted' events", output, re.MULTILINE)
        converted = re.search(r"│ converted\s*│\s*(\d+) = (\d+\.\d)% │\s*(\d+) = (\d+\.\d)% │\s*([+-]\d+\.\d) "
                              r"\[([+-]\d+\.\d), ([+-]\d+\.\d)\] │ (.+?)\s*│", output)
        assert converted is not None, output
        rows = report_rows(workdir)
        held, _ = expected_groups(output, rows)
        index_of = {data.phone(i): i for i in range(CONTACTS)}
        organic = {int(r["contact_id"]) for r in rows if data.converts_organically(index_of[r["phone"]])}
        sent_group = {int(r["contact_id"]) for r in rows if r["sent_at"] and r["status"] != "failed"}
        # Held-out contacts never got the message: their conversions are the shop's organic ones, exactly;
        # the sent group converts organically and through the bot.
        assert int(converted.group(3)) == len(organic & held)
        assert int(converted.group(1)) >= len(organic & sent_group)
        assert int(converted.group(1)) > 0
        low, points, high = float(converted.group(6)), float(converted.group(5)), float(converted.group(7))
        assert low <= points <= high
        # 300 contacts hold out about 30: the sentence says when that is too few.
        assert converted.group(8) in ("too few contacts to tell", "no measurable difference") or \
            converted.group(8).endswith("likely real")

    def test_a_forecast_a_budget_above_it_and_the_actual_cost_within_it(self, first_run: Run,
                                                                         workdir: Path) -> None:
        output = first_run.output
        assert first_run.returncode == 0, output
        plan = re.search(r"^cost forecast: (\d+\.\d\d) USD for (\d+) eligible contacts \(marketing; about (\d+) more "
                         r"kept in the holdout\); budget: (\d+\.\d\d) USD$", output, re.MULTILINE)
        assert plan is not None, output
        forecast, priced, held_out, budget = (float(plan.group(1)), int(plan.group(2)), int(plan.group(3)),
                                              float(plan.group(4)))
        assert 0 < forecast < budget
        # Eligible when it starts: not missing member_id, no open case (whether a phone is on WhatsApp
        # is known only by sending). The forecast prices the share its 10 % holdout is expected to leave.
        eligible = {i for i in range(CONTACTS) if not data.lacks_member_id(i) and not data.has_open_case(i)}
        assert priced + held_out == len(eligible)
        assert abs(held_out - len(eligible) * data.HOLDOUT_PERCENT / 100) <= 1
        # The sent messages, priced from the simulator's pricing objects (docs/costs.md). The holdout is a
        # random draw, so the cost can be a little above the forecast; never above the price of every
        # eligible contact the draw actually left (all demo phones are in one market: one price).
        cost = re.search(r"^actual cost: (\d+\.\d\d) USD of a (\d+\.\d\d) USD budget \(estimated from the rate card",
                         output, re.MULTILINE)
        assert cost is not None, output
        left = len(eligible - held_positions(output, report_rows(workdir)))
        price = forecast / priced
        actual = float(cost.group(1))
        assert 0 < actual <= price * left + 0.01 and float(cost.group(2)) == budget
        assert "budget reached" not in output

    def test_the_quality_breakers_gauges_are_printed_below_their_limits(self, first_run: Run) -> None:
        output = first_run.output
        window = re.search(r"^Quality breaker: latest (\d+) sends \(window 200, rates judged from 50\)", output,
                           re.MULTILINE)
        assert window is not None, output
        failures = re.search(r"│ Failure rate\s*│\s*([\d.]+) %\s*│\s*10 %\s*│ [█░]{20}\s*│", output)
        assert failures is not None, output
        # The demo's 2 % of contacts not on WhatsApp: below the limit, so the campaign ran to its end.
        assert 0 < float(failures.group(1)) < 10
        assert re.search(r"│ Opt-out rate\s*│\s*0 %\s*│\s*2 %\s*│", output)
        assert re.search(r"│ Block signals \(131048/131049\)\s*│\s*0\s*│\s*20\s*│", output)
        assert "quality breaker:" not in output and "tripped" not in output

    def test_the_csv_report_has_one_row_per_targeted_contact(self, first_run: Run, workdir: Path) -> None:
        assert first_run.returncode == 0, first_run.output
        path = workdir / "var" / "demo" / "campaign-1-report.csv"
        assert f"report: var/demo/{path.name}" in first_run.output
        with path.open(newline="") as report:
            rows = list(csv.reader(report))
        assert rows[0] == REPORT_HEADER
        assert len(rows) == CONTACTS + 1
        statuses = Counter(r[3] for r in rows[1:])
        assert statuses["not_sent"] + statuses["failed"] == row(first_run.output, "not sent")
        assert statuses["holdout"] == row(first_run.output, "holdout")
        assert sum(1 for r in rows[1:] if r[8]) >= row(first_run.output, "replied")
        assert any('"offer_viewed"' in r[10] for r in rows[1:])

    def test_a_second_run_in_the_same_directory_starts_afresh(self, first_run: Run, workdir: Path) -> None:
        assert first_run.returncode == 0, first_run.output
        second = run_campaign(workdir)
        assert second.returncode == 0, second.output
        assert row(second.output, "targeted") == CONTACTS  # the same contacts, not twice as many
        assert "report: var/demo/campaign-1-report.csv" in second.output  # a new database: campaign 1 again

    def test_keep_runs_a_new_campaign_on_the_same_data_with_both_variants_sent(self, first_run: Run,
                                                                              workdir: Path) -> None:
        assert first_run.returncode == 0, first_run.output
        kept = run_campaign(workdir, "--keep")
        assert kept.returncode == 0, kept.output
        assert row(kept.output, "targeted") == CONTACTS
        assert "report: var/demo/campaign-2-report.csv" in kept.output
        with (workdir / "var" / "demo" / "campaign-2-report.csv").open(newline="") as report:
            rows = list(csv.DictReader(report))
        # Variant B's video was uploaded again to this run's simulator: only the unreachable contacts fail.
        assert {r["error_msg"] for r in rows if r["status"] == "failed"} <= {"not a valid WhatsApp user"}
        assert Counter(r["variant"] for r in rows if r["status"] in ("delivered", "read"))["B"] > 0


_lines: dict[int, queue.Queue[str]] = {}


def read_line(process: subprocess.Popen[str], prefix: str, timeout: float) -> str:
    """The next output line starting with ``prefix``. A reader thread feeds a queue: select() on the
    pipe misses lines already read ahead into the file object's buffer."""
    assert process.stdout is not None
    lines = _lines.get(process.pid)
    if lines is None:
        lines = _lines[process.pid] = queue.Queue()
        stdout = process.stdout
        threading.Thread(target=lambda: [lines.put(line) for line in stdout], daemon=True).start()
    deadline = time.monotonic() + timeout
    seen = []
    while time.monotonic() < deadline:
        try:
            line = lines.get(timeout=0.5)
        except queue.Empty:
            if process.poll() is not None:
                break
            continue
        seen.append(line)
        if line.startswith(prefix):
            return line.strip()
    raise AssertionError(f"no line starting with {prefix!r}; output so far:\n{''.join(seen)}")


def listening(port: int) -> bool:
    with socket.socket() as sock:
        return sock.connect_ex(("127.0.0.1", port)) == 0


def test_ctrl_c_stops_the_server_the_simulator_and_the_bot(tmp_path: Path) -> None:
    port, sim_port = free_port(), free_port()
    process = subprocess.Popen(demo_command(port, sim_port), cwd=tmp_path, env=demo_env(), text=True,
                               stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    try:
        key = read_line(process, "API_KEY=", timeout=90).removeprefix("API_KEY=")
        bot_port = int(read_line(process, "demo bot: ", timeout=5).rsplit(":", 1)[1].split("/")[0])
        assert httpx.get(f"http://127.0.0.1:{port}/healthz").status_code == 200
        me = httpx.get(f"http://127.0.0.1:{port}/api/v1/me", headers={"Authorization": f"Bearer {key}"})
        assert me.status_code == 200
        assert httpx.get(f"http://127.0.0.1:{sim_port}/_sim/health").status_code == 200
        children = psutil.Process(process.pid).children(recursive=True)
        assert len(children) >= 2  # the Herald server and the simulator

        started = time.monotonic()
        process.send_signal(signal.SIGINT)
        assert process.wait(timeout=20) == 0
        assert time.monotonic() - started < 15
        assert not [c.pid for c in children if c.is_running() and c.status() != psutil.STATUS_ZOMBIE]
        assert not any(listening(p) for p in (port, sim_port, bot_port))
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
