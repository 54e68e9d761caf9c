"""The client against the simulator's Marketing Messages API (``POST /{phone-id}/marketing_messages``).

Request and answer shapes follow Meta's reference "Marketing Messages API for WhatsApp" (POST
/{Version}/{Phone-Number-ID}/marketing_messages: body messaging_product, recipient_type, to, type
"template", template, message_activity_sharing; answer contacts, messages[{id}], messaging_product,
success). The refusal of a business that has not accepted the terms is 360dialog's published copy of
Meta's answer (docs.360dialog.com, MM Lite "Expected errors"): message "(#200) You must accept the
Marketing Messages Lite API terms to use the API.", code 131055. Status pricing ``marketing_lite``:
Meta's MM Lite API "Get started" page. docs/whatsapp.md, "Marketing Messages API", lists the sources.
"""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from herald.dispatch import retry_policy
from herald.whatsapp.errors import MARKETING_TERMS_REASON, RetryClass
from herald.whatsapp.payloads import template_message, with_marketing_options
from tests.whatsapp import test_client_simulator as base
from tests.whatsapp.test_client_simulator import MARIA, PN, WABA, creds_for, expect_error, template

# The simulator and client fixtures of the client's own tests.
start_sim, client = base.start_sim, base.client

UTILITY = template("order_ready", category="UTILITY")
PROMO = template("plain")


def mm_scenario(*, terms_accepted: bool = True) -> dict[str, Any]:
    return {
        "phone_numbers": [{"phone_number_id": PN, "waba_id": WABA, "access_token": "client-test-token",
                           "marketing_messages_terms_accepted": terms_accepted}],
        "templates": [PROMO, UTILITY],
    }


def promo(**extra: Any) -> dict[str, Any]:
    return template_message(MARIA, "plain", "pt_BR", ["Maria", "INV10"], biz_opaque_callback_data="m-1", **extra)


class TestMarketingMessagesEndpoint:
    async def test_a_marketing_template_goes_to_marketing_messages_with_its_activity_sharing(self, start_sim, client):
        sim = start_sim(**mm_scenario())
        body = with_marketing_options(promo(), activity_sharing=False)
        result = await client.send_message(creds_for(sim), body, marketing_messages=True)
        assert result.wamid.startswith("wamid.") and result.message_status == "accepted"
        (recorded,) = sim.messages()
        assert (recorded["endpoint"], recorded["activity_sharing"], recorded["template"]) == (
            "marketing_messages", False, "plain")

    async def test_without_the_flag_the_same_body_goes_to_messages(self, start_sim, client):
        sim = start_sim(**mm_scenario())
        await client.send_message(creds_for(sim), promo())
        (recorded,) = sim.messages()
        assert (recorded["endpoint"], recorded["activity_sharing"]) == ("messages", None)

    async def test_the_answer_is_the_references_shape(self, start_sim):
        sim = start_sim(**mm_scenario())
        answer = httpx.post(f"{sim.base_url}/v23.0/{PN}/marketing_messages", json=promo(),
                            headers={"Authorization": "Bearer client-test-token"}).json()
        assert answer["success"] is True and answer["messaging_product"] == "whatsapp"
        assert answer["contacts"] == [{"input": MARIA, "wa_id": "5511988887777"}]
        assert list(answer["messages"][0]) == ["id"]

    async def test_a_utility_template_is_refused_and_pauses_the_campaign(self, start_sim, client):
        sim = start_sim(**mm_scenario())
        utility = template_message(MARIA, "order_ready", "pt_BR", ["Maria", "INV10"])
        error = await expect_error(client.send_message(creds_for(sim), utility, marketing_messages=True))
        assert (error.code, error.retry_class) == (131055, RetryClass.PAUSE_CAMPAIGN)
        assert "marketing templates only" in error.human_reason
        assert sim.messages() == []

    async def test_a_message_that_is_not_a_template_is_an_invalid_parameter(self, start_sim, client):
        sim = start_sim(**mm_scenario())
        text = {"messaging_product": "whatsapp", "recipient_type": "individual", "to": MARIA, "type": "text",
                "text": {"body": "hi"}}
        error = await expect_error(client.send_message(creds_for(sim), text, marketing_messages=True))
        assert (error.code, error.details) == (100, "Message must be a template message.")

    async def test_a_field_the_api_does_not_know_is_refused(self, start_sim, client):
        # Meta documents the time to live on the template, not on the message: a per-message field is refused.
        sim = start_sim(**mm_scenario())
        error = await expect_error(client.send_message(creds_for(sim), promo() | {"ttl": 43200},
                                                       marketing_messages=True))
        assert error.code == 100 and "ttl" in error.details


class TestTermsNotAccepted:
    async def test_the_refusal_is_metas_and_the_campaign_pauses_with_the_reason_in_the_users_words(
        self, start_sim, client
    ):
        sim = start_sim(**mm_scenario(terms_accepted=False))
        error = await expect_error(client.send_message(creds_for(sim), promo(), marketing_messages=True))
        assert error.message == "(#200) You must accept the Marketing Messages Lite API terms to use the API."
        assert (error.code, error.http_status) == (131055, 400)
        assert error.is_marketing_terms_refusal and error.human_reason == MARKETING_TERMS_REASON
        decision = retry_policy.decide(error, attempts=1)
        assert decision == retry_policy.PauseCampaign(MARKETING_TERMS_REASON)
        assert sim.messages() == []

    async def test_the_same_number_still_sends_through_messages(self, start_sim, client):
        sim = start_sim(**mm_scenario(terms_accepted=False))
        await client.send_message(creds_for(sim), promo())
        assert [m["endpoint"] for m in sim.messages()] == ["messages"]

    @pytest.mark.parametrize("code", [200, 131055])
    def test_metas_wording_under_either_code_is_the_terms_refusal(self, code):
        from herald.whatsapp.errors import error_from_response

        body = (b'{"error":{"message":"(#200) You must accept the Marketing Messages Lite API terms to use the API.",'
                b'"type":"OAuthException","code":' + str(code).encode() + b',"fbtrace_id":"AS8Uh"}}')
        error = error_from_response(403 if code == 200 else 400, body)
        assert error.retry_class is RetryClass.PAUSE_CAMPAIGN and error.human_reason == MARKETING_TERMS_REASON
