from __future__ import annotations

import orjson
import pytest

from herald.whatsapp.payloads import HeaderMedia, encode, template_message, text_message


class TestTemplateMessage:
    def test_full_message_matches_the_documented_shape(self):
        message = template_message(
            "+5511988887777",
            "winter_sale",
            "pt_BR",
            ["Maria", "INV10"],
            header=HeaderMedia("image", "MEDIA1"),
            quick_reply_payloads=["OPT_OUT", "MORE"],
            biz_opaque_callback_data="cmp=17;rcp=4410",
        )
        assert message == {
            "messaging_product": "whatsapp",
            "recipient_type": "individual",
            "to": "+5511988887777",
            "type": "template",
            "biz_opaque_callback_data": "cmp=17;rcp=4410",
            "template": {
                "name": "winter_sale",
                "language": {"code": "pt_BR"},
                "components": [
                    {"type": "header", "parameters": [{"type": "image", "image": {"id": "MEDIA1"}}]},
                    {
                        "type": "body",
                        "parameters": [{"type": "text", "text": "Maria"}, {"type": "text", "text": "INV10"}],
                    },
                    {
                        "type": "button",
                        "sub_type": "quick_reply",
                        "index": "0",
                        "parameters": [{"type": "payload", "payload": "OPT_OUT"}],
                    },
                    {
                        "type": "button",
                        "sub_type": "quick_reply",
                        "index": "1",
                        "parameters": [{"type": "payload", "payload": "MORE"}],
                    },
                ],
            },
        }

    def test_minimal_template_has_no_components_or_callback(self):
        message = template_message("+5511988887777", "hello_world", "en_US")
        assert message["template"] == {"name": "hello_world", "language": {"code": "en_US"}}
        assert "biz_opaque_callback_data" not in message

    @pytest.mark.parametrize("kind", ["image", "video", "document"])
    def test_header_media_kinds(self, kind):
        message = template_message("+1", "t", "en", header=HeaderMedia(kind, "M9"))
        assert message["template"]["components"] == [
            {"type": "header", "parameters": [{"type": kind, kind: {"id": "M9"}}]}
        ]

    def test_document_header_filename(self):
        message = template_message(
            "+1", "t", "en", header=HeaderMedia("document", "M9", filename="price-list.pdf")
        )
        parameter = message["template"]["components"][0]["parameters"][0]
        assert parameter == {"type": "document", "document": {"id": "M9", "filename": "price-list.pdf"}}

    def test_invalid_header_kind(self):
        with pytest.raises(ValueError):
            HeaderMedia("audio", "M9")  # type: ignore[arg-type]

    def test_plus_is_added_when_missing(self):
        # Without "+", Meta would prepend the business number's country code.
        assert template_message("5511988887777", "t", "en")["to"] == "+5511988887777"

    def test_callback_data_limit(self):
        template_message("+1", "t", "en", biz_opaque_callback_data="x" * 512)
        with pytest.raises(ValueError):
            template_message("+1", "t", "en", biz_opaque_callback_data="x" * 513)

    def test_serializes_with_orjson_unicode_intact(self):
        message = template_message("+1", "t", "pt_BR", ["João ✓"])
        assert orjson.loads(encode(message)) == message
        assert "João ✓".encode() in encode(message)


class TestTextMessage:
    def test_shape(self):
        assert text_message("+5511988887777", "Oi") == {
            "messaging_product": "whatsapp",
            "recipient_type": "individual",
            "to": "+5511988887777",
            "type": "text",
            "text": {"body": "Oi", "preview_url": False},
        }
