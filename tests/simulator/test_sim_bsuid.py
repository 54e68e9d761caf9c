"""The simulator plays Meta for username users (issue 20, item 6; Meta's "Business-scoped user IDs"
page): sends by ``recipient``, what the answer and the statuses name, and replies of a user known
only by a user id."""

from __future__ import annotations

import aiohttp

from tests.simulator.conftest import Receiver, SimFactory, post_json, template_body
from tests.simulator.test_sim_webhooks import messages_url, send

USER_ID = "US.13491208655302741918"


def by_user_id(user_id: str) -> dict[str, object]:
    body = template_body()
    del body["to"]
    return {**body, "recipient": user_id}


class TestUsernameUsers:
    async def test_a_send_by_user_id_is_answered_and_reported_under_that_id(
        self, start_sim: SimFactory, receiver: Receiver, http: aiohttp.ClientSession
    ) -> None:
        sim = start_sim(read_probability=1.0, reply_probability=1.0)
        status, body = await post_json(http, messages_url(sim), by_user_id(USER_ID))
        assert status == 200
        assert body["contacts"] == [{"input": USER_ID, "user_id": USER_ID}]  # no wa_id for a send by user id
        await receiver.wait_for(lambda: len(receiver.statuses()) == 3 and len(receiver.inbound()) == 1)
        assert {s["recipient_user_id"] for s in receiver.statuses()} == {USER_ID}
        assert all(not s["recipient_id"] for s in receiver.statuses())
        [reply] = receiver.inbound()
        assert reply["from_user_id"] == USER_ID and not reply["from"]
        [value] = [v for v in receiver.values() if "messages" in v]
        assert value["contacts"][0]["user_id"] == USER_ID and not value["contacts"][0]["wa_id"]

    async def test_statuses_of_a_phone_send_name_the_user_id_but_a_failure_does_not(
        self, start_sim: SimFactory, receiver: Receiver, http: aiohttp.ClientSession
    ) -> None:
        sim = start_sim(bsuid_mode=True, unreachable=["+5511900000001"])
        await send(http, sim)
        await send(http, sim, to="+5511900000001")
        await receiver.wait_for(lambda: len(receiver.statuses()) == 3)
        by_status = {s["status"]: s for s in receiver.statuses()}
        assert by_status["sent"]["recipient_id"] == "5511988887777" and by_status["sent"]["recipient_user_id"]
        assert by_status["delivered"]["recipient_user_id"] == by_status["sent"]["recipient_user_id"]
        assert "recipient_user_id" not in by_status["failed"]

    async def test_a_recipient_not_of_meta_form_is_refused_with_error_100(
        self, start_sim: SimFactory, receiver: Receiver, http: aiohttp.ClientSession
    ) -> None:
        sim = start_sim()
        status, body = await post_json(http, messages_url(sim), by_user_id("5511988887777"))
        assert status == 400 and body["error"]["code"] == 100 and "recipient" in body["error"]["error_data"]["details"]
