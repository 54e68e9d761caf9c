"""Webhooks out: signed, batched, ordered per message, failed without contacts, retried, replies."""

from __future__ import annotations

import asyncio

import aiohttp

from herald.simulator import SimulatorServer
from tests.simulator.conftest import (
    APP_SECRET,
    Receiver,
    SimFactory,
    post_json,
    template_body,
    valid_signature,
)


def messages_url(sim: SimulatorServer, number: str = "1090001", version: str = "v23.0") -> str:
    return f"{sim.base_url}/{version}/{number}/messages"


async def send(http: aiohttp.ClientSession, sim: SimulatorServer, to: str = "+5511988887777",
               number: str = "1090001", version: str = "v23.0", **extra: object) -> str:
    status, body = await post_json(http, messages_url(sim, number, version), template_body(to, **extra))
    assert status == 200, body
    wamid: str = body["messages"][0]["id"]
    return wamid


class TestStatuses:
    async def test_sent_delivered_read_signed(self, start_sim: SimFactory, receiver: Receiver,
                                              http: aiohttp.ClientSession) -> None:
        sim = start_sim(read_probability=1.0)
        wamid = await send(http, sim, biz_opaque_callback_data="cmp=17;rcp=4410")
        await receiver.wait_for(lambda: len(receiver.statuses()) == 3)
        assert all(valid_signature(raw, signature) for raw, signature in receiver.posts)
        statuses = receiver.statuses()
        assert [s["status"] for s in statuses] == ["sent", "delivered", "read"]
        assert {s["id"] for s in statuses} == {wamid}
        assert all(s["biz_opaque_callback_data"] == "cmp=17;rcp=4410" for s in statuses)
        assert all(isinstance(s["timestamp"], str) and s["timestamp"].isdigit() for s in statuses)
        assert all(s["recipient_id"] == "5511988887777" for s in statuses)
        assert ["pricing" in s for s in statuses] == [True, True, False]
        assert ["conversation" in s for s in statuses] == [True, True, False]  # v23.0: still below v24
        body = receiver.bodies()[0]
        assert body["object"] == "whatsapp_business_account" and body["entry"][0]["id"] == "2090001"
        value = body["entry"][0]["changes"][0]["value"]
        assert value["metadata"] == {"display_phone_number": "551130000000", "phone_number_id": "1090001"}
        assert "contacts" not in value

    async def test_conversation_only_below_v24(self, sim: SimulatorServer, receiver: Receiver,
                                               http: aiohttp.ClientSession) -> None:
        old = await send(http, sim, version="v23.0")
        new = await send(http, sim, to="+5511911112222", version="v24.0")
        await receiver.wait_for(lambda: len(receiver.statuses()) == 4)
        by_id = {(s["id"], s["status"]): s for s in receiver.statuses()}
        assert by_id[(old, "sent")]["conversation"]["expiration_timestamp"]
        assert "expiration_timestamp" not in by_id[(old, "delivered")]["conversation"]
        assert "conversation" not in by_id[(new, "sent")] and "pricing" in by_id[(new, "sent")]

    async def test_wrong_secret_fails_verification(self, sim: SimulatorServer, receiver: Receiver,
                                                   http: aiohttp.ClientSession) -> None:
        await send(http, sim)
        await receiver.wait_for(lambda: len(receiver.posts) >= 1)
        raw, signature = receiver.posts[0]
        assert valid_signature(raw, signature, APP_SECRET)
        assert not valid_signature(raw, signature, "other-secret")
        assert not valid_signature(raw + b" ", signature, APP_SECRET)

    async def test_failed_131026_without_contacts(self, start_sim: SimFactory, receiver: Receiver,
                                                  http: aiohttp.ClientSession) -> None:
        sim = start_sim(unreachable=["+5511900000001"], failed_error_form="new", bsuid_mode=True)
        wamid = await send(http, sim, to="+5511900000001", biz_opaque_callback_data="k")
        await receiver.wait_for(lambda: len(receiver.statuses()) == 1)
        await asyncio.sleep(0.1)
        [value] = receiver.values()
        [failed] = value["statuses"]
        assert "contacts" not in value
        assert failed["id"] == wamid and failed["status"] == "failed" and failed["biz_opaque_callback_data"] == "k"
        assert "pricing" not in failed and "conversation" not in failed
        [error] = failed["errors"]
        assert error["code"] == 131026 and error["message"] == error["title"]
        assert error["error_data"]["details"] and error["href"]

    async def test_old_error_form_and_marketing_cap(self, start_sim: SimFactory, receiver: Receiver,
                                                    http: aiohttp.ClientSession) -> None:
        sim = start_sim(marketing_capped=["+5511900000002"], failed_error_form="old")
        await send(http, sim, to="+5511900000002")
        await receiver.wait_for(lambda: len(receiver.statuses()) == 1)
        assert receiver.statuses()[0]["errors"] == [{"code": 131049, "title": receiver.statuses()[0]["errors"][0]["title"]}]

    async def test_batching_across_numbers(self, start_sim: SimFactory, receiver: Receiver,
                                           http: aiohttp.ClientSession) -> None:
        sim = start_sim(webhook_batch_size=50, webhook_flush_ms=200)
        sends = [send(http, sim, to=f"+55119000{i:05d}", number=("1090001", "1090002")[i % 2]) for i in range(60)]
        await asyncio.gather(*sends)
        await receiver.wait_for(lambda: len(receiver.statuses()) == 120)
        assert all(valid_signature(raw, signature) for raw, signature in receiver.posts)
        sizes = [sum(len(c["value"].get("statuses", [])) for e in b["entry"] for c in e["changes"])
                 for b in receiver.bodies()]
        assert max(sizes) == 50 and len(receiver.posts) < 10
        grouped = [b for b in receiver.bodies() if len(b["entry"][0]["changes"]) == 2]
        assert grouped, "one POST should carry a change per phone number"
        ids = {c["value"]["metadata"]["phone_number_id"] for c in grouped[0]["entry"][0]["changes"]}
        assert ids == {"1090001", "1090002"}

    async def test_duplicates_and_out_of_order(self, start_sim: SimFactory, receiver: Receiver,
                                               http: aiohttp.ClientSession) -> None:
        sim = start_sim(read_probability=1.0, duplicate_probability=1.0, out_of_order_probability=1.0)
        wamid = await send(http, sim)
        await receiver.wait_for(lambda: len(receiver.statuses()) == 6)
        order = [s["status"] for s in receiver.statuses()]
        assert order.index("read") < order.index("delivered")
        assert sorted(order) == ["delivered", "delivered", "read", "read", "sent", "sent"]
        assert {s["id"] for s in receiver.statuses()} == {wamid}

    async def test_skip_delivered(self, start_sim: SimFactory, receiver: Receiver,
                                  http: aiohttp.ClientSession) -> None:
        sim = start_sim(read_probability=1.0, skip_delivered_probability=1.0)
        await send(http, sim)
        await receiver.wait_for(lambda: len(receiver.statuses()) == 2)
        await asyncio.sleep(0.1)
        sent, read = receiver.statuses()
        assert (sent["status"], read["status"]) == ("sent", "read") and "pricing" in read

    async def test_retry_until_200(self, sim: SimulatorServer, receiver: Receiver,
                                   http: aiohttp.ClientSession) -> None:
        receiver.answers = [500, 503, 500]
        await send(http, sim)
        await receiver.wait_for(lambda: len(receiver.statuses()) == 2)
        assert receiver.refused == 3
        # Other batches keep flowing while one is retried, so arrival order may change, as with Meta.
        assert sorted(s["status"] for s in receiver.statuses()) == ["delivered", "sent"]
        stats = sim.stats()["webhooks"]
        assert stats["failed"] == 3 and stats["pending"] == 0

    async def test_receiver_down_then_up(self, sim: SimulatorServer, receiver: Receiver,
                                         http: aiohttp.ClientSession) -> None:
        sim.set_webhook_url("http://127.0.0.1:9/down")
        await send(http, sim)
        await asyncio.sleep(0.3)
        assert sim.stats()["webhooks"]["failed"] >= 1 and sim.stats()["webhooks"]["pending"] >= 1
        async with http.post(f"{sim.base_url}/_sim/webhook-url", json={"url": receiver.url}) as response:
            assert response.status == 200
        await receiver.wait_for(lambda: len(receiver.statuses()) == 2)


class TestUsers:
    async def test_inbound_text_and_button(self, sim: SimulatorServer, receiver: Receiver,
                                           http: aiohttp.ClientSession) -> None:
        inbound = f"{sim.base_url}/_sim/inbound"
        status, text = await post_json(http, inbound, {"phone_number_id": "1090001", "from": "+5511977776666",
                                                       "text": "oi"})
        assert status == 200
        await post_json(http, inbound, {"phone_number_id": "1090001", "from": "5511977776666",
                                        "button_payload": "OPT_OUT", "context_id": "wamid.X"})
        await receiver.wait_for(lambda: len(receiver.inbound()) == 2)
        first, second = receiver.inbound()
        assert first["id"] == text["id"] and first["type"] == "text" and first["text"] == {"body": "oi"}
        assert first["from"] == "5511977776666" and "context" not in first
        assert second["button"]["payload"] == "OPT_OUT"
        assert second["context"] == {"from": "551130000000", "id": "wamid.X"}
        assert receiver.values()[0]["contacts"][0]["wa_id"] == "5511977776666"

    async def test_simulated_replies(self, start_sim: SimFactory, receiver: Receiver,
                                     http: aiohttp.ClientSession) -> None:
        sim = start_sim(reply_probability=1.0)
        media_id = await upload_jpeg(sim, http)
        body = template_body("+5511955554444", name="winter_sale", language="pt_BR", params=["a", "b"])
        body["template"]["components"] += [
            {"type": "header", "parameters": [{"type": "image", "image": {"id": media_id}}]},
            {"type": "button", "sub_type": "quick_reply", "index": "0",
             "parameters": [{"type": "payload", "payload": "OPT_OUT"}]}]
        status, answer = await post_json(http, messages_url(sim), body)
        assert status == 200, answer
        campaign = answer["messages"][0]["id"]
        await send(http, sim, to="+5511955553333")
        await receiver.wait_for(lambda: len(receiver.inbound()) == 2)
        by_sender = {m["from"]: m for m in receiver.inbound()}
        tap = by_sender["5511955554444"]
        assert tap["type"] == "button" and tap["button"] == {"payload": "OPT_OUT", "text": "Stop"}
        assert tap["context"]["id"] == campaign
        free_text = by_sender["5511955553333"]
        assert free_text["type"] == "text" and free_text["text"]["body"] and "context" not in free_text
        read = {s["id"] for s in receiver.statuses() if s["status"] == "read"}
        assert campaign in read

    async def test_unusable_header_media_fails_131053(self, start_sim: SimFactory, receiver: Receiver,
                                                      http: aiohttp.ClientSession) -> None:
        sim = start_sim()
        media_id = await upload_jpeg(sim, http)
        sim.advance_clock(31 * 86_400)
        body = template_body(name="winter_sale", language="pt_BR", params=["a", "b"])
        body["template"]["components"].append(
            {"type": "header", "parameters": [{"type": "image", "image": {"id": media_id}}]})
        status, _ = await post_json(http, messages_url(sim), body)
        assert status == 200
        await receiver.wait_for(lambda: len(receiver.statuses()) == 1)
        assert receiver.statuses()[0]["errors"][0]["code"] == 131053

    async def test_stop_then_131050(self, start_sim: SimFactory, receiver: Receiver,
                                    http: aiohttp.ClientSession) -> None:
        sim = start_sim(bsuid_mode=False)
        status, _ = await post_json(http, f"{sim.base_url}/_sim/user-preferences",
                                    {"phone_number_id": "1090001", "wa_id": "5511988887777", "value": "stop"})
        assert status == 200
        await receiver.wait_for(lambda: bool(receiver.values("user_preferences")))
        [value] = receiver.values("user_preferences")
        [preference] = value["user_preferences"]
        assert preference["value"] == "stop" and preference["category"] == "marketing_messages"
        assert isinstance(preference["timestamp"], int) and value["contacts"] == [{"wa_id": "5511988887777"}]
        await send(http, sim)
        await receiver.wait_for(lambda: len(receiver.statuses()) == 1)
        assert receiver.statuses()[0]["errors"][0]["code"] == 131050
        await post_json(http, f"{sim.base_url}/_sim/user-preferences",
                        {"phone_number_id": "1090001", "wa_id": "5511988887777", "value": "resume"})
        sim.advance_clock(7)
        await send(http, sim)
        await receiver.wait_for(lambda: any(s["status"] == "delivered" for s in receiver.statuses()))

    async def test_bsuid_mode(self, start_sim: SimFactory, receiver: Receiver,
                              http: aiohttp.ClientSession) -> None:
        sim = start_sim(bsuid_mode=True)
        status, body = await post_json(http, messages_url(sim), template_body())
        user_id = body["contacts"][0]["user_id"]
        assert status == 200 and user_id
        await post_json(http, f"{sim.base_url}/_sim/inbound", {"phone_number_id": "1090001",
                                                               "from": "+5511988887777", "text": "x",
                                                               "hide_phone": True})
        await receiver.wait_for(lambda: len(receiver.statuses()) == 2 and len(receiver.inbound()) == 1)
        status_value = next(v for v in receiver.values() if "statuses" in v)
        assert status_value["contacts"] == [{"wa_id": "5511988887777", "user_id": user_id}]
        message_value = next(v for v in receiver.values() if "messages" in v)
        [message] = message_value["messages"]
        assert message["from"] == "" and message["from_user_id"] == user_id
        assert message_value["contacts"][0]["wa_id"] == ""
        status, body = await post_json(http, messages_url(sim), {
            "messaging_product": "whatsapp", "recipient": user_id, "type": "template",
            "template": template_body()["template"]})
        assert status == 200
        await receiver.wait_for(lambda: len(receiver.statuses()) == 4)
        to_bsuid = receiver.statuses()[-1]
        assert to_bsuid["recipient_id"] == "" and to_bsuid["recipient_user_id"] == user_id


async def upload_jpeg(sim: SimulatorServer, http: aiohttp.ClientSession) -> str:
    form = aiohttp.FormData()
    form.add_field("messaging_product", "whatsapp")
    form.add_field("type", "image/jpeg")
    form.add_field("file", b"\xff\xd8jpeg", filename="a.jpg", content_type="image/jpeg")
    async with http.post(f"{sim.base_url}/v23.0/1090001/media", data=form) as response:
        media_id: str = (await response.json())["id"]
        return media_id


class TestPricing:
    async def test_a_utility_template_inside_the_service_window_is_not_billable(
        self, sim: SimulatorServer, receiver: Receiver, http: aiohttp.ClientSession
    ) -> None:
        """Meta's per-message pricing: a delivered template is billed at its category, except a
        utility template delivered while the user's customer service window is open."""
        await post_json(http, f"{sim.base_url}/_sim/inbound",
                        {"phone_number_id": "1090001", "from": "+5511900000077", "text": "where is my order?"})
        params = [{"type": "text", "parameter_name": "first_name", "text": "Ana"},
                  {"type": "text", "parameter_name": "order_id", "text": "42"}]

        async def utility(to: str) -> str:
            body = {"messaging_product": "whatsapp", "to": to, "type": "template",
                    "template": {"name": "order_ready", "language": {"code": "en_US"},
                                 "components": [{"type": "body", "parameters": params}]}}
            status, answer = await post_json(http, messages_url(sim, version="v24.0"), body)
            assert status == 200, answer
            return str(answer["messages"][0]["id"])

        in_window, outside = await utility("+5511900000077"), await utility("+5511900000078")
        marketing = await send(http, sim, to="+5511900000077", version="v24.0")
        await receiver.wait_for(lambda: len(receiver.statuses()) >= 6)
        sent = {s["id"]: s["pricing"] for s in receiver.statuses() if s["status"] == "sent"}
        assert sent[in_window] == {"billable": False, "pricing_model": "PMP", "type": "free_customer_service",
                                   "category": "utility"}
        assert sent[outside] == {"billable": True, "pricing_model": "PMP", "type": "regular", "category": "utility"}
        assert sent[marketing] == {"billable": True, "pricing_model": "PMP", "type": "regular", "category": "marketing"}
