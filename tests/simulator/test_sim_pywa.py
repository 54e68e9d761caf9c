"""An independent client: pywa (4.5.0) sends through the simulator and parses its webhooks."""

from __future__ import annotations

import asyncio
from typing import Any

import aiohttp
import orjson
import pytest
from pywa import WhatsApp
from pywa.types import CallbackButton, MessageStatus
from pywa.types.templates import BodyText, QuickReplyButton, TemplateLanguage

from herald.simulator import SimulatorServer
from tests.simulator.conftest import APP_SECRET, TOKEN, Receiver, SimFactory, post_json

VERIFY_TOKEN = "verify-me"


def pywa_client(sim: SimulatorServer) -> WhatsApp:
    wa = WhatsApp(phone_id="1090001", token=TOKEN, api_version="23.0")
    wa.api._session.base_url = f"{sim.base_url}/v23.0"  # private attribute, pinned to pywa 4.5.0
    return wa


def pywa_parser() -> WhatsApp:
    return WhatsApp(phone_id="1090001", token=TOKEN, verify_token=VERIFY_TOKEN, app_secret=APP_SECRET,
                    skip_duplicate_updates=False)


def single_item_envelopes(body: dict[str, Any]) -> list[dict[str, Any]]:
    """pywa's typed handlers read only the first item of a POST, so feed it one item at a time."""
    envelopes = []
    for entry in body["entry"]:
        for change in entry["changes"]:
            value = change["value"]
            kind = next(k for k in ("statuses", "messages", "user_preferences") if k in value)
            for item in value[kind]:
                single = {**value, kind: [item]}
                envelopes.append({"object": body["object"],
                                  "entry": [{"id": entry["id"], "changes": [{"field": change["field"],
                                                                             "value": single}]}]})
    return envelopes


async def test_pywa_sends_named_template(sim: SimulatorServer) -> None:
    wa = pywa_client(sim)
    sent = await asyncio.to_thread(
        wa.send_template, to="+5511988887777", name="order_ready", language=TemplateLanguage.ENGLISH_US,
        params=[BodyText.params(first_name="Ana", order_id="A1")], tracker="cmp=17;rcp=4410",
    )
    assert sent.id.startswith("wamid.")
    [record] = sim.messages()
    assert record["wamid"] == sent.id and record["named_parameters"] == {"first_name": "Ana", "order_id": "A1"}
    assert record["biz_opaque_callback_data"] == "cmp=17;rcp=4410"


async def test_pywa_sees_graph_errors(sim: SimulatorServer) -> None:
    wa = pywa_client(sim)
    with pytest.raises(Exception) as raised:
        await asyncio.to_thread(wa.send_template, to="+5511988887777", name="missing",
                                language=TemplateLanguage.ENGLISH_US, params=[BodyText.params("x")])
    assert getattr(raised.value, "code", None) == 132001
    assert getattr(raised.value, "status_code", None) == 404


async def test_pywa_parses_webhooks(start_sim: SimFactory, receiver: Receiver,
                                    http: aiohttp.ClientSession) -> None:
    # BSUID mode gives statuses and inbound messages the `contacts` pywa's typed layer needs.
    sim = start_sim(bsuid_mode=True, read_probability=1.0, reply_probability=1.0, duplicate_probability=0.5,
                    unreachable=["+5511900000001"])
    sim.update_scenario(templates=[{"name": "hello_qr", "language": "en_US", "category": "MARKETING",
                                    "components": [{"type": "BODY", "text": "Hi"},
                                                   {"type": "BUTTONS", "buttons": [
                                                       {"type": "QUICK_REPLY", "text": "Stop"}]}]}])
    sent = await asyncio.to_thread(
        pywa_client(sim).send_template, to="+5511988887777", name="hello_qr",
        language=TemplateLanguage.ENGLISH_US,
        params=[QuickReplyButton.params(callback_data="OPT_OUT", index=0)], tracker="cmp=1",
    )
    campaign = sent.id
    body = {"messaging_product": "whatsapp", "to": "+5511900000001", "type": "template",
            "template": {"name": "hello_qr", "language": {"code": "en_US"}}}
    status, answer = await post_json(http, f"{sim.base_url}/v23.0/1090001/messages", body)
    assert status == 200, answer
    await receiver.wait_for(lambda: len(receiver.inbound()) == 1 and len(receiver.statuses()) >= 5)
    await asyncio.sleep(0.2)

    parser = pywa_parser()
    raw_updates: list[Any] = []
    statuses: list[MessageStatus] = []
    taps: list[CallbackButton] = []
    parser.on_raw_update()(lambda _, update: raw_updates.append(update))
    parser.on_message_status()(lambda _, status: statuses.append(status))
    parser.on_callback_button()(lambda _, button: taps.append(button))

    for raw, signature in receiver.posts:
        assert parser.webhook_update_validator(raw, signature) is None
        assert parser.webhook_update_validator(raw, "sha256=" + "0" * 64) == ("Forbidden", 403)
        assert parser.webhook_update_handler(raw) == ("ok", 200)
    assert len(raw_updates) == len(receiver.posts)

    for body_json in receiver.bodies():
        for envelope in single_item_envelopes(body_json):
            parser.webhook_update_handler(orjson.dumps(envelope))
    assert {s.status.value for s in statuses if s.id == campaign} >= {"sent", "delivered", "read"}
    assert all(s.tracker == "cmp=1" for s in statuses if s.id == campaign)
    [tap] = {t.id: t for t in taps}.values()
    assert tap.data == "OPT_OUT" and tap.reply_to_message is not None and tap.reply_to_message.id == campaign
    failed = [s for body_json in receiver.bodies() for e in body_json["entry"] for c in e["changes"]
              for s in c["value"].get("statuses", []) if s["status"] == "failed"]
    assert failed and failed[0]["errors"][0]["code"] == 131026
