"""CloudAPIClient over real HTTP against the simulator on loopback."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Callable
from typing import Any

import pytest

from herald.simulator import SimulatorServer
from herald.whatsapp.client import CloudAPIClient, NumberCredentials
from herald.whatsapp.errors import RetryClass, WhatsAppError
from herald.whatsapp.payloads import HeaderMedia, template_message
from tests.conftest import LOOPBACK_ALLOWED

TOKEN = "client-test-token"
PN, WABA = "1090001", "2090001"
JPEG = b"\xff\xd8\xff\xe0" + b"\x00" * 64
MP4 = b"\x00\x00\x00\x18ftypmp42" + b"\x00" * 64
PDF = b"%PDF-1.4\n" + b"\x00" * 64
MARIA = "+5511988887777"


def template(name: str, body: str = "Oi {{1}}, use {{2}}", header: str | None = None, **extra: Any) -> dict:
    components: list[dict[str, Any]] = []
    if header:
        components.append({"type": "HEADER", "format": header})
    components.append({"type": "BODY", "text": body})
    components.append(
        {
            "type": "BUTTONS",
            "buttons": [{"type": "QUICK_REPLY", "text": "Stop"}, {"type": "QUICK_REPLY", "text": "More"}],
        }
    )
    return {
        "name": name,
        "language": "pt_BR",
        "status": "APPROVED",
        "category": "MARKETING",
        "parameter_format": "POSITIONAL",
        "components": components,
        **extra,
    }


TEMPLATES = [
    template("plain"),
    template("with_image", header="IMAGE"),
    template("with_video", header="VIDEO"),
    template("with_document", header="DOCUMENT"),
    template("paused_one", status="PAUSED"),
    template("disabled_one", status="DISABLED"),
    template("pending_one", status="PENDING"),
]


def scenario(**overrides: Any) -> dict[str, Any]:
    base: dict[str, Any] = {
        "phone_numbers": [
            {
                "phone_number_id": PN,
                "waba_id": WABA,
                "display_phone_number": "+55 11 3000-0000",
                "access_token": TOKEN,
                "messaging_limit_tier": "TIER_2K",
            }
        ],
        "templates": TEMPLATES,
        "read_probability": 0.0,
        "reply_probability": 0.0,
        "seed": 1,
    }
    base.update(overrides)
    return base


StartSim = Callable[..., SimulatorServer]


@pytest.fixture
async def start_sim() -> AsyncIterator[StartSim]:
    started: list[SimulatorServer] = []

    def start(**overrides: Any) -> SimulatorServer:
        sim = SimulatorServer(scenario(**overrides), webhook_url=None, app_secret="s").start()
        started.append(sim)
        return sim

    yield start
    for sim in started:
        await asyncio.to_thread(sim.stop)


@pytest.fixture
async def sim(start_sim: StartSim) -> SimulatorServer:
    return start_sim()


@pytest.fixture
async def client() -> AsyncIterator[CloudAPIClient]:
    async with CloudAPIClient(outbound=LOOPBACK_ALLOWED, connection_limit=32) as api:
        yield api


def creds_for(sim: SimulatorServer, **overrides: str) -> NumberCredentials:
    values = {"phone_number_id": PN, "waba_id": WABA, "access_token": TOKEN, "graph_api_base": sim.base_url}
    values.update(overrides)
    return NumberCredentials(**values)


async def expect_error(call: Any) -> WhatsAppError:
    with pytest.raises(WhatsAppError) as info:
        await call
    return info.value


class TestSendTemplate:
    async def test_accepted_with_wamid_and_wa_id(self, sim, client):
        result = await client.send_template(
            creds_for(sim),
            MARIA,
            "plain",
            "pt_BR",
            ["Maria", "INV10"],
            biz_opaque_callback_data="cmp=1;msg=2",
        )
        assert result.wamid.startswith("wamid.")
        assert (result.message_status, result.wa_id, result.held) == ("accepted", "5511988887777", False)
        (recorded,) = sim.messages()
        assert recorded["wamid"] == result.wamid
        assert recorded["parameters"] == ["Maria", "INV10"]

    @pytest.mark.parametrize(
        ("kind", "name", "mime", "data", "filename"),
        [
            ("image", "with_image", "image/jpeg", JPEG, "promo.jpg"),
            ("video", "with_video", "video/mp4", MP4, "promo.mp4"),
            ("document", "with_document", "application/pdf", PDF, "prices.pdf"),
        ],
    )
    async def test_media_headers(self, sim, client, kind, name, mime, data, filename):
        creds = creds_for(sim)
        media_id = await client.upload_media(creds, data, filename, mime)
        header = HeaderMedia(kind, media_id, filename=filename if kind == "document" else None)
        await client.send_template(creds, MARIA, name, "pt_BR", ["Maria", "X"], header=header)
        (recorded,) = sim.messages()
        assert recorded["header"]["type"] == kind
        assert recorded["header"]["media_id"] == media_id

    async def test_quick_reply_payloads(self, sim, client):
        await client.send_template(
            creds_for(sim), MARIA, "plain", "pt_BR", ["Maria", "X"], quick_reply_payloads=["OPT_OUT", "MORE"]
        )
        (recorded,) = sim.messages()
        assert [(b["index"], b["sub_type"], b["payload"]) for b in recorded["buttons"]] == [
            ("0", "quick_reply", "OPT_OUT"),
            ("1", "quick_reply", "MORE"),
        ]

    async def test_version_without_v_prefix(self, sim, client):
        result = await client.send_template(
            creds_for(sim, graph_api_version="23.0"), MARIA, "plain", "pt_BR", ["a", "b"]
        )
        assert result.wamid

    async def test_on_write_is_called_once_as_the_request_leaves(self, sim, client):
        """Pacing counts a send from when its request was written: the callback comes once, before
        the simulator has the request (its arrival time is the message's time)."""
        import time

        written: list[float] = []
        message = template_message(MARIA, "plain", "pt_BR", ["Maria", "X"])
        result = await client.send_message(creds_for(sim), message, on_write=lambda: written.append(time.time()))
        (recorded,) = sim.messages()
        assert recorded["wamid"] == result.wamid and recorded["parameters"] == ["Maria", "X"]
        assert len(written) == 1
        assert written[0] <= recorded["time"]

    async def test_a_body_already_encoded_is_sent_as_it_is(self, sim, client):
        """The dispatch engine renders each body to JSON while claiming: those bytes are what goes out."""
        import orjson

        body = orjson.dumps(template_message(MARIA, "plain", "pt_BR", ["Maria", "Y"], biz_opaque_callback_data="42"))
        result = await client.send_message(creds_for(sim), body)
        (recorded,) = sim.messages()
        assert recorded["wamid"] == result.wamid and recorded["parameters"] == ["Maria", "Y"]
        assert recorded["biz_opaque_callback_data"] == "42"

    async def test_many_concurrent_sends(self, sim, client):
        creds = creds_for(sim)
        results = await asyncio.gather(
            *(client.send_template(creds, f"+55119{n:08d}", "plain", "pt_BR", ["a", "b"]) for n in range(60))
        )
        assert len({r.wamid for r in results}) == 60


class TestSendErrors:
    async def test_unknown_number_100(self, sim, client):
        error = await expect_error(
            client.send_template(creds_for(sim, phone_number_id="999"), MARIA, "plain", "pt_BR", ["a", "b"])
        )
        assert (error.code, error.error_subcode, error.http_status) == (100, 33, 400)
        assert error.retry_class is RetryClass.NEVER
        assert error.fbtrace_id

    async def test_bad_token_190(self, sim, client):
        error = await expect_error(
            client.send_template(creds_for(sim, access_token="wrong"), MARIA, "plain", "pt_BR", ["a", "b"])
        )
        assert (error.code, error.http_status, error.retry_class) == (190, 401, RetryClass.PAUSE_CAMPAIGN)
        assert error.human_reason == "WhatsApp access token expired or invalid"

    async def test_unknown_template_132001(self, sim, client):
        error = await expect_error(client.send_template(creds_for(sim), MARIA, "nope", "pt_BR", ["a", "b"]))
        assert (error.code, error.http_status, error.retry_class) == (
            132001,
            404,
            RetryClass.TEMPLATE_UNUSABLE,
        )
        assert error.details

    async def test_parameter_count_132000(self, sim, client):
        error = await expect_error(
            client.send_template(creds_for(sim), MARIA, "plain", "pt_BR", ["only one"])
        )
        assert (error.code, error.retry_class) == (132000, RetryClass.NEVER)
        assert error.human_reason == "template parameter count does not match"

    async def test_header_format_mismatch_132012(self, sim, client):
        error = await expect_error(
            client.send_template(
                creds_for(sim), MARIA, "with_image", "pt_BR", ["a", "b"], header=HeaderMedia("video", "123")
            )
        )
        assert (error.code, error.retry_class) == (132012, RetryClass.NEVER)

    @pytest.mark.parametrize(("name", "code"), [("paused_one", 132015), ("disabled_one", 132016)])
    async def test_paused_and_disabled_templates(self, sim, client, name, code):
        error = await expect_error(client.send_template(creds_for(sim), MARIA, name, "pt_BR", ["a", "b"]))
        assert (error.code, error.retry_class) == (code, RetryClass.TEMPLATE_UNUSABLE)

    async def test_throughput_130429(self, start_sim, client):
        sim = start_sim(
            phone_numbers=[
                {"phone_number_id": PN, "waba_id": WABA, "access_token": TOKEN, "throughput_mps": 5}
            ]
        )
        creds = creds_for(sim)
        outcomes = await asyncio.gather(
            *(client.send_template(creds, f"+55119{n:08d}", "plain", "pt_BR", ["a", "b"]) for n in range(12)),
            return_exceptions=True,
        )
        errors = [o for o in outcomes if isinstance(o, WhatsAppError)]
        assert len(errors) == 7
        assert all(e.code == 130429 and e.is_throughput_limit and not e.is_pair_rate_limit for e in errors)
        assert all(e.retry_class is RetryClass.BACK_OFF for e in errors)

    async def test_pair_rate_131056(self, sim, client):
        creds = creds_for(sim)
        for _ in range(45):  # the burst Meta allows to one user
            await client.send_template(creds, MARIA, "plain", "pt_BR", ["a", "b"])
        error = await expect_error(client.send_template(creds, MARIA, "plain", "pt_BR", ["a", "b"]))
        assert (error.code, error.retry_class, error.is_pair_rate_limit) == (
            131056,
            RetryClass.BACK_OFF,
            True,
        )

    async def test_server_error_is_retried_now(self, start_sim, client):
        sim = start_sim(error_rate_5xx=1.0)
        error = await expect_error(client.send_template(creds_for(sim), MARIA, "plain", "pt_BR", ["a", "b"]))
        assert (error.code, error.http_status, error.retry_class) == (131000, 500, RetryClass.RETRY_NOW)

    async def test_text_outside_the_window_131047(self, sim, client):
        error = await expect_error(client.send_text(creds_for(sim), MARIA, "hello"))
        assert (error.code, error.retry_class) == (131047, RetryClass.NEVER)


class TestSendText:
    async def test_inside_the_customer_service_window(self, sim, client):
        import aiohttp

        async with aiohttp.ClientSession() as http:
            inbound = {"phone_number_id": PN, "from": MARIA, "text": "oi"}
            async with http.post(f"{sim.base_url}/_sim/inbound", json=inbound) as response:
                assert response.status == 200
        result = await client.send_text(creds_for(sim), MARIA, "Olá Maria")
        assert result.wamid
        assert sim.messages()[-1]["wamid"] == result.wamid


class TestTransportFailures:
    async def test_timeout_is_retry_now(self, start_sim):
        import aiohttp

        sim = start_sim(latency_ms=500)
        async with CloudAPIClient(outbound=LOOPBACK_ALLOWED, timeout=aiohttp.ClientTimeout(total=0.1)) as client:
            error = await expect_error(
                client.send_template(creds_for(sim), MARIA, "plain", "pt_BR", ["a", "b"])
            )
        assert (error.code, error.http_status, error.retry_class) == (None, None, RetryClass.RETRY_NOW)
        assert error.message.startswith("timeout")
        assert error.human_reason == "could not reach WhatsApp"

    async def test_connection_refused_is_retry_now(self, start_sim, client):
        sim = start_sim()
        base = sim.base_url
        await asyncio.to_thread(sim.stop)
        creds = NumberCredentials(PN, WABA, TOKEN, graph_api_base=base)
        error = await expect_error(client.send_template(creds, MARIA, "plain", "pt_BR", ["a", "b"]))
        assert (error.code, error.http_status, error.retry_class) == (None, None, RetryClass.RETRY_NOW)


class TestTemplates:
    async def test_every_page_is_followed(self, sim, client):
        templates = await client.list_templates(creds_for(sim), page_size=2)
        assert [t["name"] for t in templates] == [t["name"] for t in TEMPLATES]
        assert set(templates[0]) <= {
            "id",
            "name",
            "language",
            "status",
            "category",
            "parameter_format",
            "components",
        }

    async def test_single_page(self, sim, client):
        templates = await client.list_templates(creds_for(sim), page_size=100)
        assert len(templates) == len(TEMPLATES)

    async def test_status_filter(self, sim, client):
        templates = await client.list_templates(creds_for(sim), page_size=2, status="APPROVED")
        assert {t["name"] for t in templates} == {"plain", "with_image", "with_video", "with_document"}

    async def test_unknown_waba(self, sim, client):
        error = await expect_error(client.list_templates(creds_for(sim, waba_id="404")))
        assert error.code == 100


class TestMedia:
    async def test_upload_returns_an_id(self, sim, client):
        media_id = await client.upload_media(creds_for(sim), JPEG, "a.jpg", "image/jpeg")
        assert media_id.isdigit()

    async def test_image_over_5_mb(self, sim, client):
        data = JPEG + b"\x00" * (5 * 1024 * 1024)
        error = await expect_error(client.upload_media(creds_for(sim), data, "big.jpg", "image/jpeg"))
        assert (error.code, error.retry_class) == (131053, RetryClass.NEVER)
        assert "too big" in (error.details or "")

    async def test_unsupported_type(self, sim, client):
        error = await expect_error(client.upload_media(creds_for(sim), b"GIF89a", "a.gif", "image/gif"))
        assert (error.code, error.retry_class) == (131053, RetryClass.NEVER)

    async def test_bad_token(self, sim, client):
        error = await expect_error(
            client.upload_media(creds_for(sim, access_token="x"), JPEG, "a.jpg", "image/jpeg")
        )
        assert error.code == 190


class TestNumberInfo:
    async def test_standard_number(self, sim, client):
        info = await client.get_number_info(creds_for(sim))
        assert (info.throughput_mps, info.throughput_level) == (80, "STANDARD")
        assert (info.messaging_limit_tier, info.quality_rating) == ("TIER_2K", "GREEN")
        assert info.display_phone_number == "+55 11 3000-0000"

    async def test_high_throughput_number(self, start_sim, client):
        sim = start_sim(
            phone_numbers=[
                {
                    "phone_number_id": PN,
                    "waba_id": WABA,
                    "access_token": TOKEN,
                    "throughput_mps": 1000,
                    "messaging_limit_tier": "TIER_UNLIMITED",
                }
            ]
        )
        info = await client.get_number_info(creds_for(sim))
        assert (info.throughput_mps, info.messaging_limit_tier) == (1000, "TIER_UNLIMITED")


class TestVersionWarning:
    async def test_auto_upgrade_warning_is_logged_once(self, sim, client, caplog):
        creds = creds_for(sim, graph_api_version="v19.0")
        with caplog.at_level(logging.WARNING, logger="herald.whatsapp.client"):
            await client.get_number_info(creds)
            await client.get_number_info(creds)
        warnings = [r for r in caplog.records if "auto-upgraded" in r.getMessage()]
        assert len(warnings) == 1
