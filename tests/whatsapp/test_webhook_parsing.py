from __future__ import annotations

from datetime import UTC, datetime

import orjson
import pytest

from herald.whatsapp.webhooks import (
    WebhookPayloadError,
    parse_webhook,
    parse_webhook_document,
    phone_number_ids,
    routing_ids,
)

from .conftest import CORPUS_DIR, EXPECTED_FINAL_STATES, corpus_bytes, corpus_files

T = 1767225600
PN1 = "1090001"
MARIA, JOAO = "5511988887777", "5511977776666"
BSUID = "BR.13491208655302741918"


def wamid(n: int) -> str:
    return f"wamid.HBgNNTUxMTk4ODg4Nzc3NxUCABEYEjQ2{n:018X}AA=="


def at(offset: int) -> datetime:
    return datetime.fromtimestamp(T + offset, tz=UTC)


def parse(name: str):
    return parse_webhook(corpus_bytes(name))


def statuses_of(name: str) -> list[tuple[str, str]]:
    return [(s.wamid, s.status) for s in parse(name).statuses]


class TestWholeCorpus:
    @pytest.mark.parametrize("path", corpus_files(), ids=lambda p: p.name)
    def test_every_file_parses_into_at_least_one_event(self, path):
        parsed = parse_webhook(path.read_bytes())
        total = (
            len(parsed.statuses)
            + len(parsed.messages)
            + len(parsed.user_preferences)
            + len(parsed.template_status_updates)
            + len(parsed.template_quality_updates)
            + len(parsed.number_quality_updates)
        )
        assert total > 0
        assert parsed.ignored == 0

    @pytest.mark.parametrize("path", corpus_files(), ids=lambda p: p.name)
    def test_timestamps_are_utc_aware(self, path):
        parsed = parse_webhook(path.read_bytes())
        for event in [*parsed.statuses, *parsed.messages, *parsed.user_preferences]:
            assert event.timestamp.tzinfo is UTC

    def test_events_are_frozen(self):
        status = parse("status_int_timestamps.json").statuses[0]
        with pytest.raises(AttributeError):
            status.status = "read"  # type: ignore[misc]


class TestFinalStates:
    """expected_final_states.json names every campaign message of the corpus; the applier's end
    states are checked against it, the corpus applied in any order, in tests/webhooks/test_corpus_order.py."""

    def test_every_status_file_is_covered(self):
        statuses = [s for path in corpus_files() for s in parse_webhook(path.read_bytes()).statuses]
        expected = orjson.loads((CORPUS_DIR / EXPECTED_FINAL_STATES).read_bytes())
        assert {s.wamid for s in statuses} == set(expected)


class TestBatched:
    def test_statuses_from_every_entry_and_change(self):
        parsed = parse("batched_multi_entry.json")
        assert [(s.phone_number_id, s.wamid, s.status) for s in parsed.statuses] == [
            (PN1, wamid(1), "sent"),
            (PN1, wamid(2), "sent"),
            (PN1, wamid(1), "delivered"),
            ("1090002", wamid(3), "sent"),
            ("1090002", wamid(3), "read"),
        ]

    def test_messages_and_preferences_in_the_same_post(self):
        parsed = parse("batched_multi_entry.json")
        assert [(m.phone_number_id, m.from_wa_id, m.text) for m in parsed.messages] == [
            (PN1, "5521966665555", "Quero saber mais")
        ]
        assert [(p.phone_number_id, p.wa_id, p.value) for p in parsed.user_preferences] == [
            ("1090002", "5541944443333", "stop")
        ]

    def test_callback_data_and_pricing(self):
        sent = parse("batched_multi_entry.json").statuses[0]
        assert sent.biz_opaque_callback_data == "cmp=17;msg=1"
        assert sent.pricing_category == "marketing"
        assert sent.pricing_type == "regular"
        assert sent.recipient_id == MARIA
        assert sent.timestamp == at(0)


class TestStatuses:
    def test_string_and_int_timestamps_give_the_same_datetime(self):
        statuses = parse("status_int_timestamps.json").statuses
        assert [(s.status, s.timestamp) for s in statuses] == [("sent", at(0)), ("delivered", at(3))]

    def test_sent_with_conversation_keeps_pricing(self):
        (sent,) = parse("status_sent_with_pricing_and_conversation.json").statuses
        assert (sent.wamid, sent.status, sent.pricing_category) == (wamid(4), "sent", "marketing")

    def test_failed_old_form(self):
        (failed,) = parse("status_failed_old_form.json").statuses
        assert failed.status == "failed"
        assert failed.error_code == 131053
        (error,) = failed.errors
        assert (error.title, error.message, error.details, error.href) == (
            "Media upload error",
            None,
            None,
            None,
        )
        assert failed.failure_reason == "media could not be processed (bad or mismatched type)"

    def test_failed_new_form(self):
        statuses = {s.wamid: s for s in parse("status_failed_new_form.json").statuses}
        capped = statuses[wamid(7)]
        assert capped.error_code == 131049
        assert capped.errors[0].details.startswith("In order to maintain")
        assert capped.errors[0].href is not None
        assert capped.failure_reason == "Meta chose not to deliver (per-user marketing limit)"
        assert statuses[wamid(8)].failure_reason == "not a valid WhatsApp user"
        assert statuses[wamid(8)].errors[0].href is None
        assert statuses[wamid(9)].failure_reason == "contact opted out of marketing"
        assert statuses[wamid(17)].error_code == 132015
        assert all(s.pricing_category is None for s in statuses.values())

    def test_statuses_without_contacts(self):
        assert statuses_of("statuses_no_contacts.json") == [
            (wamid(10), "sent"),
            (wamid(10), "delivered"),
            (wamid(10), "read"),
        ]

    def test_bsuid_recipient_has_user_id_and_no_wa_id(self):
        statuses = parse("status_bsuid_empty_wa_id.json").statuses
        assert [(s.recipient_id, s.recipient_user_id) for s in statuses] == [(None, BSUID), (None, BSUID)]

    def test_read_without_delivered(self):
        assert statuses_of("status_read_without_delivered.json") == [(wamid(12), "sent"), (wamid(12), "read")]

    def test_out_of_order_keeps_arrival_order_and_event_timestamps(self):
        statuses = parse("statuses_out_of_order.json").statuses
        assert [(s.status, s.timestamp) for s in statuses if s.wamid == wamid(13)] == [
            ("read", at(20)),
            ("delivered", at(10)),
            ("sent", at(0)),
        ]

    def test_duplicates_are_all_reported(self):
        # Deduplication on (wamid, status) is the receiver's job; the parser reports what came.
        assert statuses_of("statuses_duplicates.json").count((wamid(15), "delivered")) == 2

    def test_played_is_a_status(self):
        assert [s.status for s in parse("status_played.json").statuses] == [
            "sent",
            "delivered",
            "read",
            "played",
        ]
        assert parse("status_played.json").statuses[0].biz_opaque_callback_data is None

    def test_untracked_status_is_ignored(self):
        doc = orjson.loads(corpus_bytes("status_int_timestamps.json"))
        doc["entry"][0]["changes"][0]["value"]["statuses"][0]["status"] = "deleted"
        parsed = parse_webhook_document(doc)
        assert [s.status for s in parsed.statuses] == ["delivered"]
        assert parsed.ignored == 1


class TestInboundMessages:
    def test_text_without_context(self):
        (message,) = parse("message_text_without_context.json").messages
        assert (message.type, message.text, message.from_wa_id, message.profile_name) == (
            "text",
            "Oi, qual o horário de vocês?",
            MARIA,
            "Maria",
        )
        assert (message.context_id, message.context_from) == (None, None)
        assert message.from_user_id is None

    def test_text_with_context(self):
        (message,) = parse("message_text_with_context.json").messages
        assert (message.text, message.context_id, message.context_from) == (
            "Tenho interesse!",
            wamid(2),
            "551130000000",
        )
        assert message.profile_name == "João"

    def test_button_with_context(self):
        (message,) = parse("message_button_with_context.json").messages
        assert (message.type, message.button_payload, message.button_text) == (
            "button",
            "OPT_OUT",
            "Parar promoções",
        )
        assert message.context_id == wamid(1)
        assert message.from_user_id == "BR.99887766554433221100"
        assert message.text is None

    def test_button_without_context(self):
        (message,) = parse("message_button_without_context.json").messages
        assert (message.button_payload, message.context_id) == ("YES_INTERESTED", None)

    def test_interactive_button_reply(self):
        (message,) = parse("message_interactive_button_reply.json").messages
        assert (message.type, message.interactive_type) == ("interactive", "button_reply")
        assert (message.interactive_id, message.interactive_title) == (
            "btn_talk_to_agent",
            "Falar com atendente",
        )
        assert message.context_id == wamid(100)

    def test_interactive_list_reply(self):
        (message,) = parse("message_interactive_list_reply.json").messages
        assert (message.interactive_type, message.interactive_id, message.interactive_title) == (
            "list_reply",
            "size_m",
            "Tamanho M",
        )

    def test_unsupported_carries_131051(self):
        (message,) = parse("message_unsupported_131051.json").messages
        assert message.type == "unsupported"
        assert [e.code for e in message.errors] == [131051]

    def test_bsuid_sender_with_empty_from(self):
        (message,) = parse("message_bsuid_empty_from.json").messages
        assert (message.from_wa_id, message.from_user_id, message.profile_name) == (None, BSUID, "Bea S.")


class TestUserPreferences:
    def test_stop_then_resume(self):
        (stop,) = parse("user_preferences_stop.json").user_preferences
        (resume,) = parse("user_preferences_resume.json").user_preferences
        assert (stop.wa_id, stop.category, stop.value, stop.timestamp) == (
            MARIA,
            "marketing_messages",
            "stop",
            at(120),
        )
        assert (resume.value, resume.timestamp) == ("resume", at(240))
        assert stop.phone_number_id == PN1


class TestAccountUpdates:
    def test_template_status_updates(self):
        paused, approved = parse("template_status_update.json").template_status_updates
        assert (paused.template_id, paused.template_name, paused.template_language, paused.event) == (
            "901122",
            "winter_sale",
            "pt_BR",
            "PAUSED",
        )
        assert paused.reason is None
        assert paused.waba_id == "102290129340398"
        assert paused.timestamp == at(300)
        assert (approved.template_name, approved.event, approved.reason) == (
            "spring_sale",
            "APPROVED",
            "NONE",
        )

    def test_template_quality_update(self):
        (update,) = parse("template_quality_update.json").template_quality_updates
        assert (update.template_name, update.previous_quality_score, update.new_quality_score) == (
            "winter_sale",
            "GREEN",
            "YELLOW",
        )

    def test_phone_number_quality_updates(self):
        upgrade, throughput = parse("phone_number_quality_update.json").number_quality_updates
        assert (upgrade.event, upgrade.old_limit, upgrade.current_limit) == ("UPGRADE", "TIER_2K", "TIER_10K")
        assert upgrade.display_phone_number == "551130000000"
        assert (throughput.event, throughput.max_daily_conversations_per_business) == (
            "THROUGHPUT_UPGRADE",
            "10000",
        )


class TestRouting:
    def test_numbers_and_wabas_of_a_batched_post(self):
        routing = routing_ids(corpus_bytes("batched_multi_entry.json"))
        assert routing.phone_number_ids == {"1090001", "1090002"}
        assert routing.waba_ids == {"102290129340398", "102290129340399"}

    def test_account_updates_name_only_the_waba(self):
        routing = routing_ids(corpus_bytes("template_status_update.json"))
        assert (routing.phone_number_ids, routing.waba_ids) == (frozenset(), {"102290129340398"})

    def test_accepts_decoded_documents(self):
        assert phone_number_ids(orjson.loads(corpus_bytes("user_preferences_stop.json"))) == {PN1}

    def test_is_lenient_with_odd_shapes(self):
        assert (
            phone_number_ids(b'{"entry": [1, {"changes": "x"}, {"changes": [{"value": 3}]}]}') == frozenset()
        )

    def test_rejects_bytes_that_are_not_json(self):
        with pytest.raises(WebhookPayloadError):
            phone_number_ids(b"not json")


class TestMalformed:
    @pytest.mark.parametrize(
        ("body", "path"),
        [
            (b"{", ""),
            (b"[]", ""),
            (b'{"object": "page", "entry": []}', "object"),
            (b'{"object": "whatsapp_business_account"}', "entry"),
            (b'{"entry": [{"id": "1", "changes": {}}]}', "entry[0].changes"),
            (b'{"entry": [{"id": "1", "changes": [{"field": "messages"}]}]}', "entry[0].changes[0].value"),
            (
                b'{"entry": [{"id": "1", "changes": [{"field": "messages", "value": {"statuses": []}}]}]}',
                "entry[0].changes[0].value.metadata.phone_number_id",
            ),
            (
                b'{"entry": [{"changes": [{"field": "messages", "value": {"metadata": {"phone_number_id": "1"},'
                b' "statuses": [{"id": "w", "status": "sent", "timestamp": "soon"}]}}]}]}',
                "entry[0].changes[0].value.statuses[0].timestamp",
            ),
            (
                b'{"entry": [{"changes": [{"field": "messages", "value": {"metadata": {"phone_number_id": "1"},'
                b' "statuses": [{"status": "sent", "timestamp": "1"}]}}]}]}',
                "entry[0].changes[0].value.statuses[0].id",
            ),
            (
                b'{"entry": [{"changes": [{"field": "messages", "value": {"metadata": {"phone_number_id": "1"},'
                b' "messages": {"id": "x"}}}]}]}',
                "entry[0].changes[0].value.messages",
            ),
        ],
    )
    def test_clear_error_with_path(self, body, path):
        with pytest.raises(WebhookPayloadError) as info:
            parse_webhook(body)
        assert info.value.path == path
        assert isinstance(info.value, ValueError)

    def test_unknown_fields_and_change_kinds_are_ignored(self):
        doc = orjson.loads(corpus_bytes("message_text_without_context.json"))
        doc["entry"][0]["surprise"] = {"x": 1}
        doc["entry"][0]["changes"][0]["value"]["messages"][0]["new_thing"] = [1, 2]
        doc["entry"][0]["changes"].append({"field": "security", "value": {"event": "X"}})
        parsed = parse_webhook_document(doc)
        assert len(parsed.messages) == 1
        assert parsed.ignored == 1
