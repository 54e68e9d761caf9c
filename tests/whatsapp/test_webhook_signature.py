from __future__ import annotations

import hashlib
import hmac

import pytest

from herald.whatsapp.webhooks import signature_header, verify_signature

from .conftest import corpus_bytes

SECRET = "app-secret-123"
BODY = corpus_bytes("batched_multi_entry.json")


def good_header(body: bytes = BODY, secret: str = SECRET) -> str:
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


class TestVerifySignature:
    def test_good_signature(self):
        assert verify_signature(BODY, good_header(), SECRET)

    def test_signature_header_matches_meta_format(self):
        assert signature_header(BODY, SECRET) == good_header()

    def test_upper_case_hex_is_accepted(self):
        assert verify_signature(BODY, "sha256=" + good_header().removeprefix("sha256=").upper(), SECRET)

    def test_wrong_secret(self):
        assert not verify_signature(BODY, good_header(secret="other"), SECRET)

    @pytest.mark.parametrize("header", [None, "", "sha256=", "sha256", "abc", "sha1=" + "0" * 40])
    def test_missing_or_malformed_header(self, header):
        assert not verify_signature(BODY, header, SECRET)

    def test_bad_hex(self):
        assert not verify_signature(BODY, "sha256=" + "0" * 64, SECRET)

    def test_non_ascii_header_is_rejected_not_raised(self):
        assert not verify_signature(BODY, "sha256=é" + "0" * 63, SECRET)

    def test_tampered_body(self):
        header = good_header()
        tampered = BODY.replace(b"Quero saber mais", b"Quero saber menos")
        assert tampered != BODY
        assert not verify_signature(tampered, header, SECRET)

    def test_reserialized_body_fails(self):
        # Verification is over the exact bytes: the same JSON re-encoded is not the signed body.
        import json

        reencoded = json.dumps(json.loads(BODY)).encode()
        assert not verify_signature(reencoded, good_header(), SECRET)

    def test_empty_secret_never_verifies(self):
        assert not verify_signature(BODY, good_header(secret=""), "")
