"""What every fault test checks: one send per contact at the simulator, every message accounted for,
counters equal to a recount of the rows, and nothing the simulator accepted left unresolved."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
from collections import Counter
from pathlib import Path
from typing import Any

from sqlalchemy import func, select

from herald.kit.db import Database
from herald.models import CampaignMessage
from tests.conftest import TEST_FERNET_KEY, TEST_SECRET_KEY
from tests.dispatch.helpers import sim_messages, stats

SENT_FAMILY = ("sent", "delivered", "read")


def herald_env(db_url: str, var_dir: Path, **extra: str) -> dict[str, str]:
    return {
        **os.environ, "HERALD_DATABASE_URL": db_url, "HERALD_SECRET_KEY": TEST_SECRET_KEY,
        "HERALD_ENCRYPTION_KEYS": TEST_FERNET_KEY, "HERALD_VAR_DIR": str(var_dir), "HERALD_LOG_JSON": "true",
        "HERALD_ALLOW_PRIVATE_URLS": "true", **extra,
    }


def start_worker(db_url: str, tmp: Path, name: str) -> subprocess.Popen[bytes]:
    env = herald_env(db_url, tmp / name, HERALD_SEND_LEASE_SECONDS="3", HERALD_WORKER_ID=name)
    log = open(tmp / f"{name}.log", "wb")  # closed with the process
    return subprocess.Popen([sys.executable, "-m", "herald", "worker"], env=env, stdout=log, stderr=subprocess.STDOUT)


def start_server(db_url: str, tmp: Path, name: str, port: int) -> subprocess.Popen[bytes]:
    env = herald_env(db_url, tmp / name, HERALD_EMBEDDED_WORKER="false")
    log = open(tmp / f"{name}.log", "ab")  # closed with the process
    return subprocess.Popen(
        [sys.executable, "-m", "herald", "serve", "--port", str(port), "--no-worker"],
        env=env, stdout=log, stderr=subprocess.STDOUT,
    )


def stop(proc: subprocess.Popen[bytes], sig: int = signal.SIGTERM) -> None:
    if proc.poll() is None:
        proc.send_signal(sig)
        proc.wait(timeout=30)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def accepted_by_message(base_url: str) -> dict[int, dict[str, Any]]:
    """The simulator's accepted sends by Herald message id (biz_opaque_callback_data); asserts one each."""
    accepted = sim_messages(base_url)
    per_contact = Counter(m["to"] for m in accepted)
    assert not per_contact or max(per_contact.values()) == 1, (
        f"sent twice: {[to for to, n in per_contact.items() if n > 1][:10]}"
    )
    return {int(m["biz_opaque_callback_data"]): m for m in accepted}


async def rows_by_status(database: Database, campaign: int) -> dict[str, int]:
    async with database.read_session() as session:
        return dict((await session.execute(
            select(CampaignMessage.status, func.count()).where(CampaignMessage.campaign_id == campaign)
            .group_by(CampaignMessage.status)
        )).all())


async def message_status(database: Database, campaign: int) -> dict[int, str]:
    async with database.read_session() as session:
        return dict((await session.execute(
            select(CampaignMessage.id, CampaignMessage.status).where(CampaignMessage.campaign_id == campaign)
        )).all())


async def settled(database: Database, campaign: int, base_url: str) -> bool:
    """Every send the simulator accepted has been resolved by its webhooks (no longer unknown)."""
    accepted = {int(m["biz_opaque_callback_data"]) for m in sim_messages(base_url)}
    statuses = await message_status(database, campaign)
    return all(statuses.get(i) in SENT_FAMILY for i in accepted)


async def assert_accounted(database: Database, campaign: int, base_url: str, *, total: int) -> dict[str, int]:
    """No duplicate, pending 0, sent+unknown+not_sent = targeted, unknown/not_sent only for sends the
    simulator never accepted, and the counters equal a recount of the rows."""
    accepted = accepted_by_message(base_url)
    counts = await stats(database, campaign)
    assert counts["targeted"] == total and counts["pending"] == 0, counts
    assert counts["sent"] + counts["unknown"] + counts["not_sent"] == total, counts
    statuses = await message_status(database, campaign)
    assert len(statuses) == total
    wrong = {i: statuses.get(i) for i in accepted if statuses.get(i) not in SENT_FAMILY}
    assert not wrong, f"accepted by the simulator but not sent here: {list(wrong.items())[:10]}"
    assert counts["sent"] == len(accepted), (counts, len(accepted))
    rows = await rows_by_status(database, campaign)
    assert sum(rows.get(s, 0) for s in SENT_FAMILY) == counts["sent"]
    assert rows.get("unknown", 0) == counts["unknown"]
    assert rows.get("not_sent", 0) == counts["not_sent"]
    assert rows.get("pending", 0) + rows.get("claimed", 0) + rows.get("sending", 0) == counts["pending"] == 0
    assert rows.get("delivered", 0) + rows.get("read", 0) == counts["received"]
    assert rows.get("read", 0) == counts["read"]
    return counts
