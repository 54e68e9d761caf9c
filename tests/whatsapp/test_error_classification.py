from __future__ import annotations

import pickle

import pytest

from herald.whatsapp.errors import (
    PAIR_RATE_LIMIT_CODE,
    THROUGHPUT_LIMIT_CODE,
    RetryClass,
    WhatsAppError,
    classify,
    error_from_response,
    reason_for_code,
)

R = RetryClass


class TestClassify:
    @pytest.mark.parametrize(
        ("code", "status", "expected"),
        [
            (130429, 400, R.BACK_OFF),
            (131056, 400, R.BACK_OFF),
            (4, 400, R.BACK_OFF),
            (80007, 400, R.BACK_OFF),
            (613, 400, R.BACK_OFF),
            (131057, 500, R.BACK_OFF),
            (131000, 500, R.RETRY_NOW),
            (131000, None, R.RETRY_NOW),  # async failed status: no HTTP status
            (131016, 503, R.RETRY_NOW),
            (2, 503, R.RETRY_NOW),
            (133004, 503, R.RETRY_NOW),
            (131049, 400, R.RETRY_AFTER_24H),
            (131049, None, R.RETRY_AFTER_24H),
            (132001, 404, R.TEMPLATE_UNUSABLE),
            (132015, 400, R.TEMPLATE_UNUSABLE),
            (132016, 400, R.TEMPLATE_UNUSABLE),
            (131048, 400, R.PAUSE_CAMPAIGN),
            (131042, 400, R.PAUSE_CAMPAIGN),
            (131031, 403, R.PAUSE_CAMPAIGN),
            (368, 403, R.PAUSE_CAMPAIGN),
            (131064, 400, R.PAUSE_CAMPAIGN),
            (190, 401, R.PAUSE_CAMPAIGN),
            (0, 401, R.PAUSE_CAMPAIGN),
            (10, 403, R.PAUSE_CAMPAIGN),
            (200, 403, R.PAUSE_CAMPAIGN),
            (250, 403, R.PAUSE_CAMPAIGN),
            (299, 403, R.PAUSE_CAMPAIGN),
            (131026, 400, R.NEVER),
            (131026, None, R.NEVER),
            (131050, 400, R.NEVER),
            (130472, 400, R.NEVER),
            (131047, 400, R.NEVER),
            (131051, 400, R.NEVER),
            (131053, 400, R.NEVER),
            (100, 400, R.NEVER),
            (131008, 400, R.NEVER),
            (131009, 400, R.NEVER),
            (132000, 400, R.NEVER),
            (132005, 400, R.NEVER),
            (132007, 400, R.NEVER),
            (132012, 400, R.NEVER),
            (130497, 403, R.NEVER),
            (131030, 400, R.NEVER),
            (300, 403, R.NEVER),
            (199, 400, R.NEVER),
            (999999, 400, R.NEVER),
            (999999, None, R.NEVER),  # async failed status with a code we do not know
        ],
    )
    def test_section_11_table(self, code, status, expected):
        assert classify(code, status) is expected

    @pytest.mark.parametrize(
        ("code", "status", "expected"),
        [
            (None, None, R.RETRY_NOW),  # network error / timeout
            (None, 500, R.RETRY_NOW),
            (None, 502, R.RETRY_NOW),
            (None, 503, R.RETRY_NOW),
            (999999, 500, R.RETRY_NOW),  # 5xx with an unknown code
            (1, 500, R.RETRY_NOW),
            (100, 500, R.NEVER),  # a known code wins over the HTTP status
            (None, 429, R.BACK_OFF),  # proxy rate limit without an envelope
            (None, 401, R.PAUSE_CAMPAIGN),  # proxy auth failure without an envelope
            (None, 400, R.NEVER),
            (None, 404, R.NEVER),
        ],
    )
    def test_without_a_known_code(self, code, status, expected):
        assert classify(code, status) is expected

    def test_values_are_the_documented_strings(self):
        assert {c.value for c in RetryClass} == {
            "retry_now",
            "back_off",
            "retry_after_24h",
            "never",
            "pause_campaign",
            "template_unusable",
        }


class TestReasons:
    @pytest.mark.parametrize(
        ("code", "text"),
        [
            (131026, "not a valid WhatsApp user"),
            (131050, "contact opted out of marketing"),
            (131049, "Meta chose not to deliver (per-user marketing limit)"),
        ],
    )
    def test_exact_report_texts(self, code, text):
        assert reason_for_code(code, "whatever Meta said") == text
        assert WhatsAppError("x", code=code, http_status=400).human_reason == text

    @pytest.mark.parametrize(
        "code",
        [
            130429,
            131056,
            4,
            80007,
            613,
            131057,
            131000,
            131016,
            2,
            133004,
            130472,
            131047,
            131051,
            131053,
            100,
            131008,
            131009,
            132000,
            132005,
            132007,
            132012,
            130497,
            131030,
            132001,
            132015,
            132016,
            131048,
            131042,
            131031,
            368,
            131064,
            190,
            0,
            10,
            200,
            275,
        ],
    )
    def test_every_table_code_has_its_own_sentence(self, code):
        reason = reason_for_code(code, "FALLBACK")
        assert reason and reason != "FALLBACK"

    def test_unknown_code_falls_back_to_metas_message_without_prefix(self):
        assert reason_for_code(555, "(#555) Something odd") == "Something odd"
        assert reason_for_code(555, None) == "WhatsApp error 555"

    def test_reasons_without_a_code(self):
        assert WhatsAppError("timeout: ...").human_reason == "could not reach WhatsApp"
        assert (
            WhatsAppError("<html>", http_status=502).human_reason
            == "WhatsApp temporarily unavailable (HTTP 502)"
        )
        assert (
            WhatsAppError("slow", http_status=429).human_reason
            == "unexpected answer from WhatsApp (HTTP 429)"
        )


class TestWhatsAppError:
    def test_retry_class_follows_the_code(self):
        assert WhatsAppError("x", code=130429, http_status=400).retry_class is R.BACK_OFF
        assert WhatsAppError("x").retry_class is R.RETRY_NOW

    def test_throughput_and_pair_rate_are_distinct(self):
        throughput = WhatsAppError("x", code=THROUGHPUT_LIMIT_CODE, http_status=400)
        pair = WhatsAppError("x", code=PAIR_RATE_LIMIT_CODE, http_status=400)
        assert (throughput.is_throughput_limit, throughput.is_pair_rate_limit) == (True, False)
        assert (pair.is_throughput_limit, pair.is_pair_rate_limit) == (False, True)

    def test_pickles(self):
        error = WhatsAppError("m", code=132001, http_status=404, details="d", fbtrace_id="t")
        copy = pickle.loads(pickle.dumps(error))
        assert (copy.code, copy.http_status, copy.details, copy.fbtrace_id, copy.retry_class) == (
            132001,
            404,
            "d",
            "t",
            R.TEMPLATE_UNUSABLE,
        )


class TestErrorFromResponse:
    def test_graph_envelope(self):
        body = (
            b'{"error": {"message": "(#131056) (Business Account, Consumer Account) pair rate limit hit",'
            b' "type": "OAuthException", "code": 131056, "error_subcode": 2494055, "fbtrace_id": "Ab12",'
            b' "error_data": {"messaging_product": "whatsapp", "details": "Message failed to send"}}}'
        )
        error = error_from_response(400, body)
        assert (error.code, error.http_status, error.fbtrace_id, error.error_subcode) == (
            131056,
            400,
            "Ab12",
            2494055,
        )
        assert error.details == "Message failed to send"
        assert error.error_type == "OAuthException"
        assert error.retry_class is R.BACK_OFF
        assert error.is_pair_rate_limit

    def test_envelope_without_error_data(self):
        error = error_from_response(
            401, b'{"error": {"message": "Invalid OAuth access token.", "code": 190}}'
        )
        assert (error.code, error.details, error.retry_class) == (190, None, R.PAUSE_CAMPAIGN)

    @pytest.mark.parametrize("body", [b"", b"<html>Bad Gateway</html>", b"[1]", b'{"error": "x"}'])
    def test_not_an_envelope(self, body):
        error = error_from_response(502, body)
        assert (error.code, error.http_status, error.retry_class) == (None, 502, R.RETRY_NOW)
        assert error.message
