"""The simulator's template and number webhooks: Meta's shapes (read back with Herald's parser and
compared with the payload files taken from Meta's reference), and what the simulator then enforces."""

from __future__ import annotations

import json
from pathlib import Path

import aiohttp

from herald.simulator import SimulatorServer
from herald.whatsapp import parse_webhook
from tests.simulator.conftest import Receiver, SimFactory, post_json, template_body

PAYLOADS = Path(__file__).parents[1] / "webhooks" / "payloads" / "templates_numbers"


def messages_url(sim: SimulatorServer) -> str:
    return f"{sim.base_url}/v23.0/1090001/messages"


def keys_of(name: str) -> set[str]:
    """The keys of a payload file's change value (the shape from Meta's reference)."""
    return set(json.loads((PAYLOADS / name).read_text())["entry"][0]["changes"][0]["value"])


def raw_posts(receiver: Receiver, field: str) -> list[bytes]:
    return [raw for raw, _ in receiver.posts if f'"field":"{field}"'.encode() in raw]


async def control(http: aiohttp.ClientSession, sim: SimulatorServer, path: str, body: dict[str, object]) -> dict[str, object]:
    status, answer = await post_json(http, f"{sim.base_url}/_sim/{path}", body)
    assert status == 200, answer
    return answer


async def test_a_pause_carries_other_info_category_and_entry_time_and_refuses_sends(
    sim: SimulatorServer, receiver: Receiver, http: aiohttp.ClientSession
) -> None:
    await control(http, sim, "template-status", {"name": "hello", "language": "en_US", "event": "PAUSED",
                                                 "title": "FIRST_PAUSE"})
    await receiver.wait_for(lambda: bool(raw_posts(receiver, "message_template_status_update")))
    (raw,) = raw_posts(receiver, "message_template_status_update")
    entry = json.loads(raw)["entry"][0]
    assert entry["id"] == "2090001" and isinstance(entry["time"], int)
    value = entry["changes"][0]["value"]
    assert set(value) == keys_of("template_status_paused_first_pause.json")
    (update,) = parse_webhook(raw).template_status_updates
    assert (update.event, update.title, update.category, update.template_name) == (
        "PAUSED", "FIRST_PAUSE", "MARKETING", "hello")
    assert update.description and "3 hours" in update.description
    assert update.timestamp is not None
    status, body = await post_json(http, messages_url(sim), template_body())
    assert status == 400 and body["error"]["code"] == 132015


async def test_reinstated_makes_the_template_sendable_again(
    sim: SimulatorServer, receiver: Receiver, http: aiohttp.ClientSession
) -> None:
    await control(http, sim, "template-status", {"name": "hello", "event": "DISABLED"})
    answer = await control(http, sim, "template-status", {"name": "hello", "event": "REINSTATED"})
    assert answer["status"] == "APPROVED"
    status, _ = await post_json(http, messages_url(sim), template_body())
    assert status == 200
    await receiver.wait_for(lambda: len([u for raw in raw_posts(receiver, "message_template_status_update")
                                         for u in parse_webhook(raw).template_status_updates]) == 2)
    events = [u.event for raw in raw_posts(receiver, "message_template_status_update")
              for u in parse_webhook(raw).template_status_updates]
    assert sorted(events) == ["DISABLED", "REINSTATED"]


async def test_quality_and_category_updates(sim: SimulatorServer, receiver: Receiver, http: aiohttp.ClientSession) -> None:
    await control(http, sim, "template-quality", {"name": "hello", "quality": "YELLOW"})
    await control(http, sim, "template-category", {"name": "hello", "category": "UTILITY", "announce": True})
    await control(http, sim, "template-category", {"name": "hello", "category": "UTILITY"})
    await receiver.wait_for(lambda: len(raw_posts(receiver, "template_category_update")) >= 1
                            and bool(raw_posts(receiver, "message_template_quality_update")))
    await receiver.wait_for(lambda: sum(len(parse_webhook(r).template_category_updates)
                                        for r in raw_posts(receiver, "template_category_update")) == 2)
    (quality,) = [u for r in raw_posts(receiver, "message_template_quality_update")
                  for u in parse_webhook(r).template_quality_updates]
    assert (quality.previous_quality_score, quality.new_quality_score) == ("UNKNOWN", "YELLOW")
    assert set(quality.value) == keys_of("template_quality_yellow.json")
    updates = [u for r in raw_posts(receiver, "template_category_update") for u in parse_webhook(r).template_category_updates]
    (announced,) = [u for u in updates if u.correct_category]  # two POSTs may arrive in either order
    (done,) = [u for u in updates if not u.correct_category]
    assert set(announced.value) == keys_of("template_category_update_announced.json")
    assert (announced.new_category, announced.correct_category) == ("MARKETING", "UTILITY")
    assert announced.category_update_at is not None
    assert set(done.value) == keys_of("template_category_update_done.json")
    assert (done.previous_category, done.new_category) == ("MARKETING", "UTILITY")


async def test_number_quality_and_account_update(
    sim: SimulatorServer, receiver: Receiver, http: aiohttp.ClientSession
) -> None:
    answer = await control(http, sim, "number-quality", {"event": "DOWNGRADE", "tier": "TIER_2K"})
    assert answer["tier"] == "TIER_2K"
    await control(http, sim, "account-update", {"event": "ACCOUNT_VIOLATION",
                                                "details": {"violation_info": {"violation_type": "SCAM"}}})
    await receiver.wait_for(lambda: bool(raw_posts(receiver, "phone_number_quality_update"))
                            and bool(raw_posts(receiver, "account_update")))
    (quality,) = [u for r in raw_posts(receiver, "phone_number_quality_update")
                  for u in parse_webhook(r).number_quality_updates]
    assert set(quality.value) == keys_of("phone_number_quality_update_downgrade.json")
    assert (quality.event, quality.old_limit, quality.current_limit, quality.display_phone_number) == (
        "DOWNGRADE", "TIER_UNLIMITED", "TIER_2K", "551130000000")
    (account,) = [u for r in raw_posts(receiver, "account_update") for u in parse_webhook(r).account_updates]
    assert (account.event, account.phone_number, account.value["violation_info"]) == (
        "ACCOUNT_VIOLATION", "551130000000", {"violation_type": "SCAM"})
    stats = sim.stats()
    assert stats["numbers"]["1090001"]["messaging_limit_tier"] == "TIER_2K"


async def test_a_scenario_pauses_a_template_after_so_many_sends(
    start_sim: SimFactory, receiver: Receiver, http: aiohttp.ClientSession
) -> None:
    sim = start_sim(template_events=[{"after_sends": 2, "name": "hello", "event": "PAUSED", "title": "FIRST_PAUSE"}])
    first = [await post_json(http, messages_url(sim), template_body(f"+55119000000{i}")) for i in range(3)]
    assert [status for status, _ in first] == [200, 200, 400]
    await receiver.wait_for(lambda: bool(raw_posts(receiver, "message_template_status_update")))


async def test_unknown_template_or_bad_values_are_4xx(sim: SimulatorServer, http: aiohttp.ClientSession) -> None:
    status, body = await post_json(http, f"{sim.base_url}/_sim/template-status", {"name": "nope", "event": "PAUSED"})
    assert status == 404 and "unknown template" in body["error"]
    status, body = await post_json(http, f"{sim.base_url}/_sim/number-quality", {"event": "UPGRADE", "tier": "TIER_7"})
    assert status == 400 and "tier" in body["error"]
