"""The simulator emits every kind of user message and error in Meta's shapes, and pywa (4.5.0), an
independent parser of Meta's webhooks, reads each one as the right typed update."""

from __future__ import annotations

import asyncio
from typing import Any

import aiohttp
import orjson
import pytest
from pywa import WhatsApp

from herald.simulator import SimulatorServer, user_messages
from tests.simulator.conftest import APP_SECRET, TOKEN, Receiver, SimFactory, post_json, template_body

USER = "+5511988887777"
WA_ID = "5511988887777"


@pytest.fixture
async def sim(start_sim: SimFactory) -> SimulatorServer:
    # 2026 shapes: contacts carry the BSUID (`user_id`) next to `wa_id`, which pywa 4.5 requires.
    return start_sim(bsuid_mode=True)


async def emit(http: aiohttp.ClientSession, sim: SimulatorServer, receiver: Receiver,
               **fields: Any) -> tuple[dict[str, Any], dict[str, Any]]:
    """Posts `/_sim/inbound`; returns the webhook's message item and the value that carried it."""
    status, answer = await post_json(http, f"{sim.base_url}/_sim/inbound", {"from": USER, **fields})
    assert status == 200, answer
    await receiver.wait_for(lambda: any(m["id"] == answer["id"] for m in receiver.inbound()))
    for value in receiver.values():
        for item in value.get("messages", []):
            if item["id"] == answer["id"]:
                return item, value
    raise AssertionError("unreachable")


def pywa_updates(value: dict[str, Any]) -> list[tuple[str, Any]]:
    """Feeds one change to pywa's handlers; returns (handler name, typed update) pairs it produced."""
    wa = WhatsApp(phone_id="1090001", token=TOKEN, verify_token="v", app_secret=APP_SECRET,
                  skip_duplicate_updates=False)
    seen: list[tuple[str, Any]] = []
    for name in ("on_message", "on_callback_button", "on_callback_selection", "on_flow_completion",
                 "on_phone_number_change", "on_identity_change", "on_deleted_message", "on_edited_message"):
        getattr(wa, name)()(lambda _, update, name=name: seen.append((name, update)))
    body = {"object": "whatsapp_business_account",
            "entry": [{"id": "2090001", "changes": [{"field": "messages", "value": value}]}]}
    assert wa.webhook_update_handler(orjson.dumps(body)) == ("ok", 200)
    return seen


async def test_reaction_and_unreaction(sim: SimulatorServer, receiver: Receiver, http: aiohttp.ClientSession) -> None:
    target = "wamid.HBgMNTUxMTk4ODg4Nzc3NxUCABEYEjQ2AAAAAAAAAAAAAAAAAAAA"
    item, value = await emit(http, sim, receiver, type="reaction", message_id=target, emoji="\N{HEAVY BLACK HEART}")
    assert item["type"] == "reaction" and item["reaction"] == {"message_id": target, "emoji": "\N{HEAVY BLACK HEART}"}
    assert "context" not in item and value["contacts"][0]["wa_id"] == WA_ID
    [(handler, message)] = pywa_updates(value)
    assert handler == "on_message" and message.reaction.emoji == "\N{HEAVY BLACK HEART}"

    item, value = await emit(http, sim, receiver, type="unreaction", message_id=target)
    assert item["reaction"] == {"message_id": target, "emoji": ""}
    [(_, message)] = pywa_updates(value)
    assert message.reaction.is_removed


@pytest.mark.parametrize(("kind", "mime_type"), [
    ("image", "image/jpeg"), ("video", "video/mp4"), ("audio", "audio/ogg"),
    ("document", "application/pdf"), ("sticker", "image/webp"),
])
async def test_media_messages_can_be_downloaded_like_meta_media(
    sim: SimulatorServer, receiver: Receiver, http: aiohttp.ClientSession, kind: str, mime_type: str,
) -> None:
    campaign = "wamid.sent-by-the-business"
    item, value = await emit(http, sim, receiver, type=kind, caption="my receipt", context_id=campaign)
    media = item[kind]
    assert item["type"] == kind and media["mime_type"] == mime_type
    assert item["context"] == {"from": "551130000000", "id": campaign}
    assert ("caption" in media) == (kind in ("image", "video", "document"))
    async with http.get(f"{sim.base_url}/v23.0/{media['id']}") as response:
        info = await response.json()
    assert response.status == 200 and info["sha256"] == media["sha256"] and info["mime_type"] == mime_type
    async with http.get(info["url"]) as response:
        assert response.status == 200 and response.headers["content-type"].startswith(mime_type.split(";")[0])
    [(handler, message)] = pywa_updates(value)
    assert handler == "on_message" and getattr(message, kind).id == media["id"]


async def test_location_contacts_and_referral(sim: SimulatorServer, receiver: Receiver,
                                              http: aiohttp.ClientSession) -> None:
    item, value = await emit(http, sim, receiver, type="location", latitude=-23.5614, longitude=-46.6559,
                             name="Av. Paulista")
    assert item["location"] == {"latitude": -23.5614, "longitude": -46.6559, "name": "Av. Paulista"}
    [(_, message)] = pywa_updates(value)
    assert (message.location.latitude, message.location.name) == (-23.5614, "Av. Paulista")

    card = {"name": {"formatted_name": "Ana Souza", "first_name": "Ana"}, "phones": [{"phone": "+55 11 3000-1111"}]}
    item, value = await emit(http, sim, receiver, type="contacts", contacts=[card])
    assert item["contacts"] == [card]
    [(_, message)] = pywa_updates(value)
    assert message.contacts[0].name.formatted_name == "Ana Souza"

    item, value = await emit(http, sim, receiver, type="referral", text="Is this on sale?", ad_id="120200000000000042")
    assert item["text"] == {"body": "Is this on sale?"}
    assert item["referral"]["source_type"] == "ad" and item["referral"]["source_id"] == "120200000000000042"
    assert item["referral"]["ctwa_clid"]
    [(_, message)] = pywa_updates(value)
    assert message.referral.source_id == "120200000000000042"


async def test_interactive_replies_with_context(sim: SimulatorServer, receiver: Receiver,
                                               http: aiohttp.ClientSession) -> None:
    asked = "wamid.the-interactive-message"
    item, value = await emit(http, sim, receiver, type="button_reply", id="yes", title="Yes!", context_id=asked)
    assert item["interactive"] == {"type": "button_reply", "button_reply": {"id": "yes", "title": "Yes!"}}
    assert item["context"]["id"] == asked
    [(handler, button)] = pywa_updates(value)
    assert handler == "on_callback_button" and button.data == "yes" and button.reply_to_message.id == asked

    item, value = await emit(http, sim, receiver, type="list_reply", id="size_m", title="M", description="Medium",
                             context_id=asked)
    assert item["interactive"]["list_reply"] == {"id": "size_m", "title": "M", "description": "Medium"}
    [(handler, selection)] = pywa_updates(value)
    assert handler == "on_callback_selection" and selection.data == "size_m"

    answers = {"flow_token": "tok-1", "rating": "5"}
    item, value = await emit(http, sim, receiver, type="nfm_reply", response_json=answers, context_id=asked)
    reply = item["interactive"]["nfm_reply"]
    assert isinstance(reply["response_json"], str) and orjson.loads(reply["response_json"]) == answers
    [(handler, completion)] = pywa_updates(value)
    assert handler == "on_flow_completion" and completion.token == "tok-1" and completion.response["rating"] == "5"


async def test_revoke_and_edit(sim: SimulatorServer, receiver: Receiver, http: aiohttp.ClientSession) -> None:
    original = "wamid.HBgMNTUxMTk4ODg4Nzc3NxUCABIYFjNFQjBDMEYzQUFBQUFBQUFBQUFBAA=="
    item, value = await emit(http, sim, receiver, type="revoke", original_message_id=original,
                             context_id="ignored")
    assert item["type"] == "revoke" and item["revoke"] == {"original_message_id": original}
    assert "context" not in item
    [(handler, deleted)] = pywa_updates(value)
    assert handler == "on_deleted_message" and deleted.original_message_id == original

    item, value = await emit(http, sim, receiver, type="edit", original_message_id=original, text="I meant 3 units")
    assert item["edit"] == {"original_message_id": original,
                            "message": {"type": "text", "text": {"body": "I meant 3 units"}}}
    [(handler, edited)] = pywa_updates(value)
    assert handler == "on_edited_message" and edited.original_message_id == original


async def test_system_messages_have_no_contacts_and_a_changed_number_stops_receiving(
    sim: SimulatorServer, receiver: Receiver, http: aiohttp.ClientSession,
) -> None:
    item, value = await emit(http, sim, receiver, type="user_changed_number", new_wa_id="+5511977776666")
    assert item["from"] == WA_ID and item["type"] == "system"
    assert item["system"]["type"] == "user_changed_number" and item["system"]["wa_id"] == "5511977776666"
    assert "contacts" not in value
    [(handler, change)] = pywa_updates(value)
    assert handler == "on_phone_number_change" and change.new_wa_id == "5511977776666"

    item, value = await emit(http, sim, receiver, type="user_identity_changed")
    assert item["system"]["type"] == "customer_identity_changed" and item["identity"]["acknowledged"] is True
    [(handler, identity)] = pywa_updates(value)
    assert handler == "on_identity_change" and identity.identity.hash == item["identity"]["hash"]

    # Meta no longer delivers to the old number; the new one receives.
    _, sent = await post_json(http, f"{sim.base_url}/v23.0/1090001/messages", template_body(USER))
    _, other = await post_json(http, f"{sim.base_url}/v23.0/1090001/messages", template_body("+5511977776666"))
    await receiver.wait_for(lambda: {s["id"] for s in receiver.statuses()} >= {sent["messages"][0]["id"],
                                                                               other["messages"][0]["id"]})
    outcome = {s["id"]: s for s in receiver.statuses()}
    assert outcome[sent["messages"][0]["id"]]["errors"][0]["code"] == 131026
    assert outcome[other["messages"][0]["id"]]["status"] == "sent"


async def test_value_level_errors_only(sim: SimulatorServer, receiver: Receiver, http: aiohttp.ClientSession) -> None:
    status, _ = await post_json(http, f"{sim.base_url}/_sim/webhook-errors", {"codes": [131000, 130429]})
    assert status == 200
    await receiver.wait_for(lambda: any("errors" in v for v in receiver.values()))
    [value] = [v for v in receiver.values() if "errors" in v]
    assert set(value) == {"messaging_product", "metadata", "errors"}
    assert [e["code"] for e in value["errors"]] == [131000, 130429]
    assert all({"title", "message", "error_data", "href"} <= set(e) for e in value["errors"])


async def test_async_131047_as_a_failed_status(start_sim: SimFactory, receiver: Receiver,
                                               http: aiohttp.ClientSession) -> None:
    sim = start_sim(reengagement_failure="async", bsuid_mode=True)
    body = {"messaging_product": "whatsapp", "to": USER, "type": "text", "text": {"body": "Still there?"}}
    status, answer = await post_json(http, f"{sim.base_url}/v23.0/1090001/messages", body)
    assert status == 200  # accepted: the window is closed, which Meta reports afterwards
    wamid = answer["messages"][0]["id"]
    await receiver.wait_for(lambda: any(s["id"] == wamid for s in receiver.statuses()))
    [failed] = [s for s in receiver.statuses() if s["id"] == wamid]
    assert failed["status"] == "failed" and failed["errors"][0]["code"] == 131047
    assert failed["errors"][0]["title"] == "Re-engagement message"

    # Any accepted message can be failed afterwards on request, by default with 131047.
    _, sent = await post_json(http, f"{sim.base_url}/v23.0/1090001/messages", template_body())
    template_wamid = sent["messages"][0]["id"]
    status, _ = await post_json(http, f"{sim.base_url}/_sim/failed-status", {"wamid": template_wamid})
    assert status == 200
    await receiver.wait_for(lambda: any(s["id"] == template_wamid and s["status"] == "failed"
                                        for s in receiver.statuses()))
    status, answer = await post_json(http, f"{sim.base_url}/_sim/failed-status", {"wamid": "wamid.nope"})
    assert status == 404 and "wamid.nope" in answer["error"]


async def test_scenario_reply_kinds(start_sim: SimFactory, receiver: Receiver, http: aiohttp.ClientSession) -> None:
    sim = start_sim(reply_probability=1.0, read_probability=1.0, reply_kinds={"location": 1, "unreaction": 1})
    wamids = []
    for i in range(12):
        _, answer = await post_json(http, f"{sim.base_url}/v23.0/1090001/messages", template_body(f"+55119000{i:05d}"))
        wamids.append(answer["messages"][0]["id"])
    await receiver.wait_for(lambda: len(receiver.inbound()) == 12)
    kinds = {m["type"] for m in receiver.inbound()}
    assert kinds <= {"location", "reaction"} and len(kinds) == 2
    for message in receiver.inbound():
        if message["type"] == "reaction":  # an unreaction targets the campaign message, without context
            assert message["reaction"]["emoji"] == "" and message["reaction"]["message_id"] in wamids
            assert "context" not in message
        else:
            assert message["context"]["id"] in wamids

    async with http.post(f"{sim.base_url}/_sim/scenario?merge=1", json={"reply_kinds": {"poll": 1}}) as response:
        assert response.status == 422 and "poll" in await response.text()


@pytest.mark.parametrize("kind", [*user_messages.KINDS, "auto"])
async def test_every_kind_can_be_a_scenario_reply(start_sim: SimFactory, receiver: Receiver,
                                                  http: aiohttp.ClientSession, kind: str) -> None:
    sim = start_sim(reply_probability=1.0, reply_kinds={kind: 1})
    status, answer = await post_json(http, f"{sim.base_url}/v23.0/1090001/messages", template_body())
    assert status == 200, answer
    await receiver.wait_for(lambda: len(receiver.inbound()) == 1)
    [message] = receiver.inbound()
    expected = {"auto": "text", "referral": "text", "button_reply": "interactive", "list_reply": "interactive",
                "nfm_reply": "interactive", "unreaction": "reaction", "user_changed_number": "system",
                "user_identity_changed": "system"}.get(kind, kind)
    assert message["type"] == expected


@pytest.mark.parametrize(("fields", "problem"), [
    ({"type": "reaction"}, "'message_id' is required"),
    ({"type": "telepathy"}, "unknown type 'telepathy'"),
    ({"type": "location", "latitude": "north"}, "invalid fields for type 'location'"),
])
async def test_control_requests_name_the_missing_field(sim: SimulatorServer, http: aiohttp.ClientSession,
                                                       fields: dict[str, Any], problem: str) -> None:
    status, answer = await post_json(http, f"{sim.base_url}/_sim/inbound", {"from": USER, **fields})
    assert status == 400 and problem in answer["error"]


async def test_each_kind_is_delivered_exactly_once(sim: SimulatorServer, receiver: Receiver,
                                                    http: aiohttp.ClientSession) -> None:
    kinds = ["text", "image", "reaction", "location", "button_reply", "revoke"]
    fields = {"message_id": "wamid.x", "id": "b1", "original_message_id": "wamid.y"}
    ids = []
    for kind in kinds:
        _, answer = await post_json(http, f"{sim.base_url}/_sim/inbound", {"from": USER, "type": kind, **fields})
        ids.append(answer["id"])
    await receiver.wait_for(lambda: len(receiver.inbound()) == len(kinds))
    await asyncio.sleep(0.1)
    assert sorted(m["id"] for m in receiver.inbound()) == sorted(ids)
    assert sorted(m["type"] for m in receiver.inbound()) == sorted(
        ["text", "image", "reaction", "location", "interactive", "revoke"])


async def test_a_read_status_on_cue(start_sim: SimFactory, receiver: Receiver, http: aiohttp.ClientSession) -> None:
    """``POST /_sim/status``: one message read, another not (the follow-up tests rely on it)."""
    sim = start_sim(read_probability=0, reply_probability=0)
    _, first = await post_json(http, f"{sim.base_url}/v23.0/1090001/messages", template_body("+5511900000001"))
    _, second = await post_json(http, f"{sim.base_url}/v23.0/1090001/messages", template_body("+5511900000002"))
    read, unread = first["messages"][0]["id"], second["messages"][0]["id"]
    await receiver.wait_for(lambda: {s["id"] for s in receiver.statuses() if s["status"] == "delivered"} >= {read, unread})
    status, _ = await post_json(http, f"{sim.base_url}/_sim/status", {"wamid": read, "status": "read"})
    assert status == 200
    await receiver.wait_for(lambda: any(s["id"] == read and s["status"] == "read" for s in receiver.statuses()))
    assert not any(s["id"] == unread and s["status"] == "read" for s in receiver.statuses())
    status, answer = await post_json(http, f"{sim.base_url}/_sim/status", {"wamid": read, "status": "failed"})
    assert status == 400 and "delivered, read" in answer["error"]
    status, answer = await post_json(http, f"{sim.base_url}/_sim/status", {"wamid": "wamid.nope"})
    assert status == 404 and "wamid.nope" in answer["error"]
