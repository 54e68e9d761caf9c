"""The simulator's Marketing Messages API: the statuses of what it accepted, priced ``marketing_lite``.

Meta's MM Lite API "Get started" page (developers.facebook.com/docs/whatsapp/marketing-messages-lite-api/
get-started): "When a message is sent via MM Lite, the webhook payload will have category and
conversation.origin.type set to marketing_lite" (``pricing`` with billable, pricing_model PMP).
"""

from __future__ import annotations

import aiohttp

from tests.simulator.conftest import Receiver, SimFactory, post_json, template_body


class TestMarketingMessagesStatuses:
    async def test_a_marketing_message_is_priced_marketing_lite_and_a_messages_one_marketing(
        self, start_sim: SimFactory, receiver: Receiver, http: aiohttp.ClientSession
    ) -> None:
        sim = start_sim(read_probability=0.0, reply_probability=0.0)
        status, lite = await post_json(http, f"{sim.base_url}/v23.0/1090001/marketing_messages",
                                       template_body("+5511988887777") | {"message_activity_sharing": True})
        assert status == 200, lite
        status, cloud = await post_json(http, f"{sim.base_url}/v23.0/1090001/messages", template_body("+5511911112222"))
        assert status == 200, cloud
        await receiver.wait_for(lambda: len(receiver.statuses()) == 4)
        sent = {s["id"]: s for s in receiver.statuses() if s["status"] == "sent"}
        lite_sent = sent[lite["messages"][0]["id"]]
        assert lite_sent["pricing"] == {"billable": True, "pricing_model": "PMP", "type": "regular",
                                        "category": "marketing_lite"}
        assert lite_sent["conversation"]["origin"] == {"type": "marketing_lite"}  # v23.0: still below v24
        assert sent[cloud["messages"][0]["id"]]["pricing"]["category"] == "marketing"

    async def test_a_number_whose_business_has_not_accepted_the_terms_is_refused(
        self, start_sim: SimFactory, http: aiohttp.ClientSession
    ) -> None:
        sim = start_sim(phone_numbers=[{"phone_number_id": "1090001", "waba_id": "2090001",
                                        "marketing_messages_terms_accepted": False}])
        status, body = await post_json(http, f"{sim.base_url}/v23.0/1090001/marketing_messages", template_body())
        assert status == 400
        assert body["error"]["code"] == 131055
        assert body["error"]["message"] == "(#200) You must accept the Marketing Messages Lite API terms to use the API."
        assert sim.messages() == []
