"""The Graph API surface: success shapes, Meta's validation errors and HTTP statuses, limits."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import aiohttp
import orjson
import pytest

from herald.simulator import SimulatorServer
from tests.simulator.conftest import SimFactory, post_json, template_body


def messages_url(sim: SimulatorServer, number: str = "1090001", version: str = "v23.0") -> str:
    return f"{sim.base_url}/{version}/{number}/messages"


def assert_graph_error(status: int, body: dict[str, Any], code: int, http_status: int) -> None:
    assert status == http_status, body
    error = body["error"]
    assert error["code"] == code
    assert error["message"].startswith(f"(#{code}) ")
    assert error["type"] == "OAuthException"
    assert error["error_data"]["messaging_product"] == "whatsapp"
    assert error["error_data"]["details"]
    assert error["fbtrace_id"]


class TestSendTemplate:
    async def test_accepted_shape(self, sim: SimulatorServer, http: aiohttp.ClientSession) -> None:
        status, body = await post_json(http, messages_url(sim), template_body("+55 (11) 98888-7777"))
        assert status == 200
        assert body["messaging_product"] == "whatsapp"
        assert body["contacts"] == [{"input": "+55 (11) 98888-7777", "wa_id": "5511988887777"}]
        [message] = body["messages"]
        assert message["id"].startswith("wamid.") and message["message_status"] == "accepted"

    async def test_recorded_for_inspection(self, sim: SimulatorServer, http: aiohttp.ClientSession) -> None:
        body = template_body(name="winter_sale", language="pt_BR", params=["Maria", "INV10"],
                             biz_opaque_callback_data="cmp=1")
        media_id = await upload(sim, http, b"\xff\xd8jpeg", "image/jpeg")
        body["template"]["components"] += [
            {"type": "header", "parameters": [{"type": "image", "image": {"id": media_id}}]},
            {"type": "button", "sub_type": "quick_reply", "index": "0",
             "parameters": [{"type": "payload", "payload": "OPT_OUT"}]},
        ]
        _, sent = await post_json(http, messages_url(sim), body)
        async with http.get(f"{sim.base_url}/_sim/messages?since=0") as response:
            page = await response.json()
        [record] = page["messages"]
        assert record["wamid"] == sent["messages"][0]["id"]
        assert (record["template"], record["language"], record["parameters"]) == ("winter_sale", "pt_BR",
                                                                                 ["Maria", "INV10"])
        assert record["header"] == {"type": "image", "media_id": media_id, "link": None}
        assert record["buttons"] == [{"index": "0", "sub_type": "quick_reply", "payload": "OPT_OUT"}]
        assert record["biz_opaque_callback_data"] == "cmp=1"
        assert page["next"] == 1
        async with http.get(f"{sim.base_url}/_sim/messages?since=1") as response:
            assert (await response.json())["messages"] == []

    async def test_named_parameters(self, sim: SimulatorServer, http: aiohttp.ClientSession) -> None:
        body = template_body(name="order_ready")
        body["template"]["components"] = [{"type": "BODY", "parameters": [
            {"type": "text", "parameter_name": "order_id", "text": "A1"},
            {"type": "text", "parameter_name": "first_name", "text": "Ana"}]}]
        status, _ = await post_json(http, messages_url(sim), body)
        assert status == 200
        assert sim.messages()[0]["named_parameters"] == {"order_id": "A1", "first_name": "Ana"}

    @pytest.mark.parametrize(("version", "upgraded"), [("v19.0", True), ("v21.0", True), ("v22.0", False),
                                                       ("v26.0", False)])
    async def test_version_headers(self, sim: SimulatorServer, http: aiohttp.ClientSession, version: str,
                                   upgraded: bool) -> None:
        async with http.post(messages_url(sim, version=version), json=template_body()) as response:
            assert response.status == 200
            assert ("X-Ad-Api-Version-Warning" in response.headers) is upgraded
            assert response.headers["Facebook-Api-Version"] == ("v22.0" if upgraded else version)

    async def test_too_old_version_refused(self, sim: SimulatorServer, http: aiohttp.ClientSession) -> None:
        status, body = await post_json(http, messages_url(sim, version="v17.0"), template_body())
        assert status == 400 and body["error"]["code"] == 2635


class TestValidationErrors:
    async def test_unknown_phone_number_id(self, sim: SimulatorServer, http: aiohttp.ClientSession) -> None:
        status, body = await post_json(http, messages_url(sim, number="999"), template_body())
        assert_graph_error(status, body, 100, 400)
        assert body["error"]["error_subcode"] == 33

    @pytest.mark.parametrize("headers", [{"Authorization": "Bearer wrong"}, {"Authorization": ""}])
    async def test_bad_or_missing_token(self, sim: SimulatorServer, headers: dict[str, str]) -> None:
        async with aiohttp.ClientSession(headers=headers) as anonymous:
            status, body = await post_json(anonymous, messages_url(sim), template_body())
        assert_graph_error(status, body, 190, 401)

    async def test_unknown_template(self, sim: SimulatorServer, http: aiohttp.ClientSession) -> None:
        status, body = await post_json(http, messages_url(sim), template_body(name="nope"))
        assert_graph_error(status, body, 132001, 404)
        status, body = await post_json(http, messages_url(sim), template_body(language="fr_FR"))
        assert_graph_error(status, body, 132001, 404)

    async def test_parameter_count(self, sim: SimulatorServer, http: aiohttp.ClientSession) -> None:
        status, body = await post_json(http, messages_url(sim), template_body(params=["a", "b"]))
        assert_graph_error(status, body, 132000, 400)

    async def test_missing_media_header(self, sim: SimulatorServer, http: aiohttp.ClientSession) -> None:
        body = template_body(name="winter_sale", language="pt_BR", params=["a", "b"])
        status, answer = await post_json(http, messages_url(sim), body)
        assert_graph_error(status, answer, 132012, 400)
        body["template"]["components"].append(
            {"type": "header", "parameters": [{"type": "video", "video": {"id": "1"}}]})
        status, answer = await post_json(http, messages_url(sim), body)
        assert_graph_error(status, answer, 132012, 400)
        assert "expected IMAGE" in answer["error"]["error_data"]["details"]

    async def test_named_vs_positional(self, sim: SimulatorServer, http: aiohttp.ClientSession) -> None:
        status, body = await post_json(http, messages_url(sim), template_body(name="order_ready", params=["a", "b"]))
        assert_graph_error(status, body, 132012, 400)
        positional = template_body()
        positional["template"]["components"][0]["parameters"][0]["parameter_name"] = "first_name"
        status, body = await post_json(http, messages_url(sim), positional)
        assert_graph_error(status, body, 132012, 400)

    async def test_paused_and_disabled(self, sim: SimulatorServer, http: aiohttp.ClientSession) -> None:
        status, body = await post_json(http, messages_url(sim), template_body(name="paused_one"))
        assert_graph_error(status, body, 132015, 400)
        status, body = await post_json(http, messages_url(sim), template_body(name="disabled_one"))
        assert_graph_error(status, body, 132016, 400)

    async def test_text_outside_window_then_inside(self, sim: SimulatorServer, http: aiohttp.ClientSession) -> None:
        text = {"messaging_product": "whatsapp", "to": "+5511977776666", "type": "text", "text": {"body": "hi"}}
        status, body = await post_json(http, messages_url(sim), text)
        assert_graph_error(status, body, 131047, 400)
        await post_json(http, f"{sim.base_url}/_sim/inbound",
                        {"phone_number_id": "1090001", "from": "5511977776666", "text": "hello"})
        status, body = await post_json(http, messages_url(sim), text)
        assert status == 200, body
        sim.advance_clock(24 * 3600 + 1)
        status, body = await post_json(http, messages_url(sim), text)
        assert_graph_error(status, body, 131047, 400)

    async def test_rejections_counted(self, sim: SimulatorServer, http: aiohttp.ClientSession) -> None:
        await post_json(http, messages_url(sim), template_body(name="nope"))
        await post_json(http, messages_url(sim), template_body())
        async with http.get(f"{sim.base_url}/_sim/stats") as response:
            stats = await response.json()
        assert stats["accepted"] == 1 and stats["rejected"] == {"132001": 1}


class TestLimits:
    async def test_throughput_130429(self, start_sim: SimFactory, http: aiohttp.ClientSession) -> None:
        sim = start_sim(phone_numbers=[{"phone_number_id": "1090001", "throughput_mps": 5, "access_token": None}])
        sends = [post_json(http, messages_url(sim), template_body(f"+55119000000{i:02d}")) for i in range(12)]
        results = await asyncio.gather(*sends)
        codes = sorted(body["error"]["code"] if status != 200 else 200 for status, body in results)
        assert codes.count(200) == 5 and codes.count(130429) == 7
        assert all(status == 400 for status, body in results if "error" in body)
        assert sim.stats()["numbers"]["1090001"]["max_sends_per_second"] == 5

    @pytest.mark.slow
    async def test_throughput_counts_a_send_when_it_arrives(self, start_sim: SimFactory,
                                                             http: aiohttp.ClientSession) -> None:
        """Meta counts a request where it arrives, not when a server got round to it. A request whose
        body trails its headers by 0.6 s is counted from its headers: a second later the number
        (1 msg/s) takes the next send. Counted from its handler, that send would be refused."""
        sim = start_sim(phone_numbers=[{"phone_number_id": "1090001", "throughput_mps": 1, "access_token": None}])
        body = orjson.dumps(template_body("+5511900000001"))
        reader, writer = await asyncio.open_connection(sim.host, sim.port)
        arrived = time.time()
        writer.write(b"POST /v23.0/1090001/messages HTTP/1.1\r\nHost: sim\r\nAuthorization: Bearer t\r\n"
                     b"Content-Type: application/json\r\n"
                     b"Content-Length: %d\r\n\r\n" % len(body))
        await writer.drain()
        await asyncio.sleep(0.6)
        writer.write(body)
        await writer.drain()
        assert (await reader.readline()).startswith(b"HTTP/1.1 200")
        writer.close()
        (first,) = sim.messages()
        assert first["time"] == pytest.approx(arrived, abs=0.2)
        await asyncio.sleep(max(0.0, arrived + 1.1 - time.time()))
        status, _ = await post_json(http, messages_url(sim), template_body("+5511900000002"))
        assert status == 200

    @pytest.mark.slow
    async def test_a_send_read_late_by_a_busy_simulator_is_counted_from_its_arrival(
        self, start_sim: SimFactory, http: aiohttp.ClientSession
    ) -> None:
        """The simulator's loop stalls half a second (sharing its cores, say) while a send arrives: the
        kernel saw the request then, and so does the count. Stamped when the loop got to it, the send
        a second after its arrival would fall inside the same second and be refused."""
        sim = start_sim(phone_numbers=[{"phone_number_id": "1090001", "throughput_mps": 1, "access_token": None}])
        stall = asyncio.create_task(asyncio.to_thread(sim.call, lambda: time.sleep(0.5)))
        await asyncio.sleep(0.1)  # the simulator's loop is asleep now, for another 0.4 s
        arrived = time.time()
        status, _ = await post_json(http, messages_url(sim), template_body("+5511900000001"))
        await stall
        assert status == 200 and time.time() - arrived > 0.3  # it was read after the stall
        (first,) = sim.messages()
        assert arrived <= first["time"] <= arrived + 0.05
        await asyncio.sleep(max(0.0, arrived + 1.05 - time.time()))
        status, _ = await post_json(http, messages_url(sim), template_body("+5511900000002"))
        assert status == 200

    async def test_pair_rate_131056(self, start_sim: SimFactory, http: aiohttp.ClientSession) -> None:
        sim = start_sim(phone_numbers=[{"phone_number_id": "1090001", "throughput_mps": 0, "access_token": None}])
        for _ in range(45):
            status, _ = await post_json(http, messages_url(sim), template_body())
            assert status == 200
        status, body = await post_json(http, messages_url(sim), template_body())
        assert_graph_error(status, body, 131056, 400)
        other, _ = await post_json(http, messages_url(sim), template_body("+5511911112222"))
        assert other == 200
        sim.advance_clock(6.1)
        status, _ = await post_json(http, messages_url(sim), template_body())
        assert status == 200
        assert sim.stats()["numbers"]["1090001"]["unique_recipients_24h"] == 2
        sim.advance_clock(86_400)
        assert sim.stats()["numbers"]["1090001"]["unique_recipients_24h"] == 0


class TestTemplatesAndNumber:
    async def test_paging(self, start_sim: SimFactory, http: aiohttp.ClientSession) -> None:
        templates = [{"name": f"t{i:02d}", "language": "en_US", "status": s, "category": "UTILITY",
                      "components": [{"type": "BODY", "text": "x"}]}
                     for i, s in enumerate(["APPROVED", "REJECTED", "PENDING", "PAUSED", "DISABLED"] * 2)]
        sim = start_sim(templates=templates)
        url = f"{sim.base_url}/v23.0/2090001/message_templates?limit=4&fields=name,status,language"
        seen: list[dict[str, Any]] = []
        pages = 0
        while url:
            async with http.get(url) as response:
                page = await response.json()
            pages += 1
            seen += page["data"]
            assert page["paging"]["cursors"]["after"]
            url = page["paging"].get("next")
        assert pages == 3 and [t["name"] for t in seen] == [f"t{i:02d}" for i in range(10)]
        assert set(seen[0]) == {"id", "name", "status", "language"}
        assert {t["status"] for t in seen} == {"APPROVED", "REJECTED", "PENDING", "PAUSED", "DISABLED"}
        async with http.get(f"{sim.base_url}/v23.0/2090001/message_templates",
                            params={"limit": "2", "after": page["paging"]["cursors"]["before"]}) as response:
            assert [t["name"] for t in (await response.json())["data"]] == ["t08", "t09"]

    async def test_both_parameter_formats_listed(self, sim: SimulatorServer, http: aiohttp.ClientSession) -> None:
        async with http.get(f"{sim.base_url}/v23.0/2090001/message_templates") as response:
            data = (await response.json())["data"]
        assert {t.get("parameter_format") for t in data} >= {"POSITIONAL", "NAMED"}

    async def test_phone_number_fields(self, sim: SimulatorServer, http: aiohttp.ClientSession) -> None:
        fields = "display_phone_number,verified_name,quality_rating,throughput,whatsapp_business_manager_messaging_limit"
        async with http.get(f"{sim.base_url}/v23.0/1090001", params={"fields": fields}) as response:
            body = await response.json()
        assert body == {"id": "1090001", "display_phone_number": "+55 11 3000-0000",
                        "verified_name": "Herald Simulator", "quality_rating": "GREEN",
                        "throughput": {"level": "STANDARD"},
                        "whatsapp_business_manager_messaging_limit": "TIER_UNLIMITED"}


async def upload(sim: SimulatorServer, http: aiohttp.ClientSession, data: bytes, mime: str) -> str:
    status, body = await upload_raw(sim, http, data, mime)
    assert status == 200, body
    media_id: str = body["id"]
    return media_id


async def upload_raw(sim: SimulatorServer, http: aiohttp.ClientSession, data: bytes, mime: str) -> tuple[int, Any]:
    form = aiohttp.FormData()
    form.add_field("messaging_product", "whatsapp")
    form.add_field("type", mime)
    form.add_field("file", data, filename="f.bin", content_type=mime)
    async with http.post(f"{sim.base_url}/v23.0/1090001/media", data=form) as response:
        return response.status, await response.json()


class TestMedia:
    async def test_upload_get_and_download(self, sim: SimulatorServer, http: aiohttp.ClientSession) -> None:
        media_id = await upload(sim, http, b"\x89PNG....", "image/png")
        async with http.get(f"{sim.base_url}/v23.0/{media_id}") as response:
            media = await response.json()
        assert media["id"] == media_id and media["mime_type"] == "image/png" and media["file_size"] == 8
        async with http.get(media["url"]) as response:
            assert response.status == 200 and await response.read() == b"\x89PNG...."
        sim.advance_clock(301)
        async with http.get(media["url"]) as response:
            assert response.status == 404

    async def test_type_and_size_limits(self, sim: SimulatorServer, http: aiohttp.ClientSession) -> None:
        status, body = await upload_raw(sim, http, b"GIF89a", "image/gif")
        assert_graph_error(status, body, 131053, 400)
        status, body = await upload_raw(sim, http, b"\xff\xd8" + b"0" * (5 * 1024 * 1024), "image/jpeg")
        assert_graph_error(status, body, 131053, 400)
        assert "too big" in body["error"]["error_data"]["details"]
        status, _ = await upload_raw(sim, http, b"%PDF" + b"0" * (6 * 1024 * 1024), "application/pdf")
        assert status == 200

    async def test_media_expires_after_30_days(self, sim: SimulatorServer, http: aiohttp.ClientSession) -> None:
        media_id = await upload(sim, http, b"\xff\xd8jpeg", "image/jpeg")
        sim.advance_clock(30 * 86_400 + 1)
        async with http.get(f"{sim.base_url}/v23.0/{media_id}") as response:
            assert_graph_error(response.status, await response.json(), 100, 400)
