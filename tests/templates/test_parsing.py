from __future__ import annotations

from typing import Any

from herald.templates.parsing import body_text, template_facts


def raw(body: str, **extra: Any) -> dict[str, Any]:
    template: dict[str, Any] = {
        "id": "1", "name": "t", "language": "en_US", "status": "APPROVED", "category": "MARKETING",
        "components": [{"type": "BODY", "text": body}],
    }
    template.update(extra)
    return template


class TestTemplateFacts:
    def test_positional_variables_in_numeric_order(self) -> None:
        facts = template_facts(raw("{{2}} then {{1}}, again {{1}} … {{10}} {{3}} {{4}} {{5}} {{6}} {{7}} {{8}} {{9}}"))
        assert facts.variables == [str(i) for i in range(1, 11)]
        assert facts.usable and facts.parameter_format == "POSITIONAL"

    def test_missing_parameter_format_is_inferred(self) -> None:
        facts = template_facts(raw("Hi {{first_name}}"))
        assert facts.parameter_format == "NAMED"
        assert facts.reason == "named parameters are not supported"
        assert facts.variables == ["first_name"]

    def test_gaps_in_numbering_are_unusable(self) -> None:
        assert template_facts(raw("{{1}} {{3}}")).reason == "body placeholders are not numbered {{1}} to {{N}}"

    def test_header_text_variable_is_unusable(self) -> None:
        facts = template_facts(raw("Hi {{1}}", components=[
            {"type": "HEADER", "format": "TEXT", "text": "Sale for {{1}}"}, {"type": "BODY", "text": "Hi {{1}}"}]))
        assert facts.header_format == "TEXT" and facts.variables == ["1"]
        assert facts.reason == "header text variables are not supported"

    def test_media_header_and_quick_replies(self) -> None:
        facts = template_facts(raw("x", components=[
            {"type": "header", "format": "VIDEO"}, {"type": "body", "text": "x"},
            {"type": "BUTTONS", "buttons": [{"type": "QUICK_REPLY", "text": "Yes"}, {"type": "QUICK_REPLY", "text": "No"},
                                            {"type": "URL", "text": "Site", "url": "https://x.test"}]}]))
        assert facts.usable and facts.header_format == "VIDEO" and facts.quick_reply_count == 2

    def test_buttons_needing_parameters_are_unusable(self) -> None:
        dynamic_url = {"type": "BUTTONS", "buttons": [{"type": "URL", "url": "https://x.test/{{1}}"}]}
        copy_code = {"type": "BUTTONS", "buttons": [{"type": "COPY_CODE", "example": "SAVE10"}]}
        assert template_facts(raw("x", components=[dynamic_url])).reason == "URL buttons with a variable are not supported"
        assert template_facts(raw("x", components=[copy_code])).reason == "copy-code buttons are not supported"

    def test_unsupported_header_and_components(self) -> None:
        assert template_facts(raw("x", components=[{"type": "HEADER", "format": "LOCATION"}])).reason == (
            "header format LOCATION is not supported"
        )
        assert template_facts(raw("x", components=[{"type": "CAROUSEL", "cards": []}])).reason == (
            "carousel components are not supported"
        )

    def test_status_other_than_approved(self) -> None:
        assert template_facts(raw("x", status="paused")).reason == "status PAUSED"
        named_and_rejected = template_facts(raw("{{a}}", status="REJECTED", parameter_format="NAMED"))
        assert named_and_rejected.reasons == ["named parameters are not supported", "status REJECTED"]

    def test_body_text(self) -> None:
        assert body_text([{"type": "HEADER", "format": "IMAGE"}, {"type": "BODY", "text": "Oi {{1}}"}]) == "Oi {{1}}"
        assert body_text([]) is None
