"""Other clients against the simulator: pywa (4.5.0) sends everything a bot sends besides templates
(text, media by link and by uploaded id, reply buttons, lists, CTA URL, Flows, reactions, location,
contacts) and marks messages read, through its public API only; invalid requests get Meta's codes.

pywa always talks to https://graph.facebook.com; an httpx transport (``ToSimulator``) given to pywa's
``session`` parameter sends those requests to the simulator instead, unchanged.
"""

from __future__ import annotations

import asyncio
from typing import Any

import aiohttp
import httpx
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pywa import WhatsApp
from pywa.errors import WhatsAppError
from pywa.types import Button, FlowButton, Section, SectionList, SectionRow, URLButton
from pywa.types.others import Contact

from herald.simulator import SimulatorServer, free_form
from herald.simulator.errors import GraphError
from herald.simulator.scenario import Scenario
from herald.simulator.sending import send_message as free_form_send
from herald.simulator.state import SimState
from tests.simulator.conftest import TOKEN, Receiver, SimFactory, post_json

USER = "+5511988887777"


class ToSimulator(httpx.BaseTransport):
    """Sends every request to the simulator's host and port; path, headers and body stay pywa's."""

    def __init__(self, base_url: str) -> None:
        self.target = httpx.URL(base_url)
        self.inner = httpx.HTTPTransport()
        self.requests: list[httpx.Request] = []

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        request.url = request.url.copy_with(scheme=self.target.scheme, host=self.target.host, port=self.target.port)
        self.requests.append(request)
        return self.inner.handle_request(request)


@pytest.fixture
async def sim(start_sim: SimFactory) -> SimulatorServer:
    return start_sim(bsuid_mode=True, read_probability=1.0)


@pytest.fixture
def transport(sim: SimulatorServer) -> ToSimulator:
    return ToSimulator(sim.base_url)


@pytest.fixture
def wa(transport: ToSimulator) -> WhatsApp:
    return WhatsApp(phone_id="1090001", token=TOKEN, api_version="23.0", session=httpx.Client(transport=transport))


async def user_writes(sim: SimulatorServer, http: aiohttp.ClientSession, text: str = "Hi!") -> str:
    """The user messages the business: the 24 h window opens and the message can be marked read."""
    status, answer = await post_json(http, f"{sim.base_url}/_sim/inbound", {"from": USER, "text": text})
    assert status == 200
    return str(answer["id"])


async def call(fn: Any, *args: Any, **kwargs: Any) -> Any:
    return await asyncio.to_thread(fn, *args, **kwargs)


async def test_pywa_sends_every_free_form_type(sim: SimulatorServer, wa: WhatsApp, http: aiohttp.ClientSession,
                                               transport: ToSimulator) -> None:
    inbound = await user_writes(sim, http)
    sends = [
        (wa.send_message, {"to": USER, "text": "Plain text"}),
        (wa.send_message, {"to": USER, "text": "Pick one", "buttons": [Button("Yes", "yes"), Button("No", "no")]}),
        (wa.send_message, {"to": USER, "text": "Sizes", "buttons": SectionList("Choose", sections=[
            Section("Shirts", rows=[SectionRow("M", "size_m", "Medium"), SectionRow("L", "size_l")])])}),
        (wa.send_message, {"to": USER, "text": "Our site", "buttons": URLButton("Open", "https://example.com/x")}),
        (wa.send_message, {"to": USER, "text": "Sign up", "buttons": FlowButton(
            "Sign up", flow_id="1234567890", flow_token="tok-1", flow_action_screen="START",
            flow_message_version="3")}),
        (wa.send_image, {"to": USER, "image": "https://example.com/cat.jpg", "caption": "A cat"}),
        (wa.send_document, {"to": USER, "document": b"%PDF-1.4 simulated", "filename": "offer.pdf",
                            "mime_type": "application/pdf"}),
        (wa.send_reaction, {"to": USER, "emoji": "\N{THUMBS UP SIGN}", "message_id": inbound}),
        (wa.remove_reaction, {"to": USER, "message_id": inbound}),
        (wa.send_location, {"to": USER, "latitude": -23.5614, "longitude": -46.6559, "name": "Store"}),
        (wa.send_contact, {"to": USER, "contact": Contact(name=Contact.Name(formatted_name="Ana Souza",
                                                                            first_name="Ana"),
                                                          phones=[Contact.Phone(phone="+55 11 3000-1111")])}),
        (wa.send_product, {"to": USER, "catalog_id": "354160437058781", "sku": "SNEAKER-42", "body": "Yours?"}),
        (wa.send_catalog, {"to": USER, "body": "Our catalog"}),
    ]
    for fn, kwargs in sends:
        sent = await call(fn, **kwargs)
        assert sent.id.startswith("wamid."), (fn.__name__, sent)

    records = sim.messages()
    assert [r["type"] for r in records] == ["text", "interactive", "interactive", "interactive", "interactive",
                                            "image", "document", "reaction", "reaction", "location", "contacts",
                                            "interactive", "interactive"]
    assert [r["content"]["type"] for r in records[-2:]] == ["product", "catalog_message"]
    assert [r["content"]["type"] for r in records[1:5]] == ["button", "list", "cta_url", "flow"]
    assert records[5]["content"]["link"] == "https://example.com/cat.jpg" and records[5]["text"] == "A cat"
    assert records[6]["content"]["id"]  # uploaded to /media first, then sent by id
    assert records[8]["content"] == {"message_id": inbound, "emoji": ""}
    assert {r.url.host for r in transport.requests} == {"127.0.0.1"}


async def test_pywa_marks_read_and_shows_typing(sim: SimulatorServer, wa: WhatsApp,
                                                http: aiohttp.ClientSession, transport: ToSimulator) -> None:
    inbound = await user_writes(sim, http)
    assert (await call(wa.mark_message_as_read, message_id=inbound)).success is True
    assert (await call(wa.indicate_typing, message_id=inbound)).success is True
    assert [r.read() for r in transport.requests][-1].count(b"typing_indicator")
    async with http.get(f"{sim.base_url}/_sim/stats") as response:
        assert (await response.json())["marked_read"] == 2
    assert sim.messages() == []  # a read receipt is not a message

    with pytest.raises(WhatsAppError) as raised:
        await call(wa.mark_message_as_read, message_id="wamid.never-received")
    assert raised.value.code == 100 and "message_id" in raised.value.details


async def test_pywa_sees_meta_validation(sim: SimulatorServer, wa: WhatsApp, http: aiohttp.ClientSession) -> None:
    await user_writes(sim, http)
    four = [Button(f"B{i}", f"b{i}") for i in range(4)]
    with pytest.raises(WhatsAppError) as raised:
        await call(wa.send_message, to=USER, text="Too many", buttons=four)
    assert raised.value.code == 131009 and "buttons" in raised.value.details

    with pytest.raises(WhatsAppError) as raised:
        await call(wa.send_message, to=USER, text="Long", buttons=[Button("A title far longer than twenty", "x")])
    assert raised.value.code == 131009 and "['title']" in raised.value.details


async def test_outside_the_window_free_form_is_refused(sim: SimulatorServer, wa: WhatsApp) -> None:
    with pytest.raises(WhatsAppError) as raised:
        await call(wa.send_message, to="+5511900001111", text="Hello?")
    assert raised.value.code == 131047


async def test_reactions_get_only_sent(sim: SimulatorServer, wa: WhatsApp, http: aiohttp.ClientSession,
                                       receiver: Receiver) -> None:
    """Meta's reaction guide: a reaction triggers a `sent` status, never delivered or read."""
    inbound = await user_writes(sim, http)
    sent = await call(wa.send_reaction, to=USER, emoji="\N{THUMBS UP SIGN}", message_id=inbound)
    text = await call(wa.send_message, to=USER, text="Thanks")
    await receiver.wait_for(lambda: {(s["id"], s["status"]) for s in receiver.statuses()} >= {(text.id, "read")})
    await asyncio.sleep(0.1)
    assert [s["status"] for s in receiver.statuses() if s["id"] == sent.id] == ["sent"]


# Bodies in the shape pywa 4.5.0's GraphAPI.send_message builds (pywa/api.py: messaging_product,
# recipient_type, to, type and the type's object), made invalid one field at a time.
def body(kind: str, content: Any, **extra: Any) -> dict[str, Any]:
    return {"messaging_product": "whatsapp", "recipient_type": "individual", "to": USER, "type": kind,
            kind: content, **extra}


INVALID = [
    (body("text", {}), 100, "text['body']"),
    (body("text", {"body": "x" * 4097}), 131009, "text['body']"),
    (body("image", {"caption": "no media"}), 100, "image['id'] or image['link']"),
    (body("image", {"link": "ftp://example.com/a.jpg"}), 131009, "image['link']"),
    (body("video", {"id": "1", "link": "https://example.com/v.mp4"}), 131009, "either id or link"),
    (body("location", {"latitude": 95, "longitude": 0}), 131009, "location['latitude']"),
    (body("location", {"longitude": 0}), 100, "location['latitude']"),
    (body("reaction", {"message_id": "wamid.x", "emoji": "thumbs up"}), 131009, "reaction['emoji']"),
    (body("contacts", [{"phones": [{"phone": "+1"}]}]), 100, "contacts[0]['name']"),
    (body("interactive", {"type": "carousel_of_dreams", "body": {"text": "x"}, "action": {}}), 131009,
     "interactive['type']"),
    (body("interactive", {"type": "button", "action": {"buttons": [{"type": "reply", "reply": {"id": "a", "title": "A"}}]}}),
     100, "interactive['body']"),
    (body("interactive", {"type": "list", "body": {"text": "x"}, "action": {"button": "Open", "sections": [
        {"rows": [{"id": f"r{i}", "title": f"R{i}"} for i in range(11)]}]}}), 131009, "11 rows"),
    (body("interactive", {"type": "cta_url", "body": {"text": "x"}, "action": {
        "name": "cta_url", "parameters": {"display_text": "Go", "url": "javascript:alert(1)"}}}), 131009, "['url']"),
    (body("interactive", {"type": "flow", "body": {"text": "x"}, "action": {
        "name": "flow", "parameters": {"flow_message_version": "3", "flow_cta": "Go"}}}), 100, "flow_id"),
    (body("poll", {"question": "?"}), 131051, "'poll' is not supported"),
    (body("text", {"body": "hi"}, context={"id": "wamid.x"}), 100, "context"),
    ({"messaging_product": "whatsapp", "status": "read"}, 100, "message_id"),
    ({"messaging_product": "whatsapp", "status": "delivered", "message_id": "wamid.x"}, 131009, "status"),
]


@pytest.mark.parametrize(("request_body", "code", "named"), INVALID)
async def test_invalid_requests_get_meta_codes_naming_the_field(
    sim: SimulatorServer, http: aiohttp.ClientSession, request_body: dict[str, Any], code: int, named: str,
) -> None:
    await user_writes(sim, http)
    status, answer = await post_json(http, f"{sim.base_url}/v23.0/1090001/messages", request_body)
    error = answer["error"]
    assert (status, error["code"]) == (400, code), answer
    assert named in error["error_data"]["details"]
    assert error["message"].startswith(f"(#{code}) ") and error["fbtrace_id"]
    assert sim.messages() == []


JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=True) | st.text(max_size=30),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(
        st.sampled_from(["type", "body", "text", "id", "link", "caption", "action", "buttons", "reply", "title",
                         "sections", "rows", "button", "name", "parameters", "url", "display_text", "flow_id",
                         "flow_cta", "flow_message_version", "latitude", "longitude", "emoji", "message_id",
                         "formatted_name", "phones", "phone", "header", "footer"]), inner, max_size=6),
    max_leaves=25,
)


@pytest.mark.slow
@settings(max_examples=250, deadline=None)
@given(kind=st.sampled_from([*free_form.CHECKS, "template", "poll", ""]), content=JSON,
       extra=st.dictionaries(st.sampled_from(["context", "status", "message_id", "typing_indicator", "recipient_type"]),
                             JSON, max_size=2))
def test_any_body_is_accepted_or_refused_with_a_graph_error(kind: str, content: Any, extra: dict[str, Any]) -> None:
    """Whatever a client sends, the answer is a success or a 4xx Graph error, never a crash (a 500)."""
    state = SimState(Scenario.model_validate({"webhooks_enabled": False}), None, "secret")
    number = state.scenario.phone_numbers[0]
    state.last_inbound[(number.phone_number_id, USER[1:])] = state.now()
    body = {"messaging_product": "whatsapp", "to": USER, "type": kind, kind: content, **extra}
    try:
        answer = free_form_send(state, number, body, "v23.0")
    except GraphError as error:
        assert 400 <= error.http_status < 500 and error.details
    else:
        assert answer.get("success") is True or answer["messages"][0]["id"].startswith("wamid.")


@pytest.mark.slow
@settings(max_examples=200, deadline=None)
@given(components=JSON | st.lists(st.dictionaries(st.sampled_from(
    ["type", "parameters", "sub_type", "index", "text", "image", "parameter_name"]), JSON, max_size=4), max_size=4))
def test_any_template_components_are_accepted_or_refused_with_a_graph_error(components: Any) -> None:
    state = SimState(Scenario.model_validate({"webhooks_enabled": False, "templates": [
        {"name": "promo", "language": "en_US", "components": [
            {"type": "HEADER", "format": "IMAGE"}, {"type": "BODY", "text": "Hi {{1}}"},
            {"type": "BUTTONS", "buttons": [{"type": "QUICK_REPLY", "text": "Stop"}]}]}]}), None, "secret")
    number = state.scenario.phone_numbers[0]
    body = {"messaging_product": "whatsapp", "to": USER, "type": "template",
            "template": {"name": "promo", "language": {"code": "en_US"}, "components": components}}
    try:
        free_form_send(state, number, body, "v23.0")
    except GraphError as error:
        assert 400 <= error.http_status < 500 and error.details
