"""What Herald needs to know about a Graph-shaped template, and why it may not be sendable.

Herald sends positional body parameters, an image/video/document header and quick-reply payloads
(see `herald.whatsapp.payloads`). Any template that needs more than that is listed with a reason
instead of failing at send time. In particular a TEXT header with a variable is *unusable*
("header text variables are not supported"): campaign variables bind body placeholders only, and
the header parameter would otherwise be missing from every send (Meta error 132000).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

POSITIONAL = "POSITIONAL"
NAMED = "NAMED"
SENDABLE_STATUS = "APPROVED"
MEDIA_HEADER_FORMATS = frozenset({"IMAGE", "VIDEO", "DOCUMENT"})
_SUPPORTED_COMPONENTS = frozenset({"HEADER", "BODY", "FOOTER", "BUTTONS"})
# Buttons whose send needs a parameter Herald does not supply.
_PARAMETER_BUTTONS = {"COPY_CODE": "copy-code buttons are not supported", "OTP": "one-time-password buttons are not supported"}
_POSITIONAL_PLACEHOLDER = re.compile(r"\{\{\s*(\d+)\s*\}\}")
_NAMED_PLACEHOLDER = re.compile(r"\{\{\s*([a-z_][a-z0-9_]*)\s*\}\}")


@dataclass(frozen=True)
class TemplateFacts:
    """One template as Herald stores it."""

    meta_id: str | None
    name: str
    language: str
    status: str
    category: str | None
    parameter_format: str
    components: list[dict[str, Any]]
    variables: list[str]
    header_format: str | None
    quick_reply_count: int
    reasons: list[str] = field(default_factory=list)

    @property
    def usable(self) -> bool:
        return not self.reasons

    @property
    def reason(self) -> str | None:
        return self.reasons[0] if self.reasons else None


def _kind(component: dict[str, Any]) -> str:
    return str(component.get("type", "")).upper()


def _component(components: list[dict[str, Any]], kind: str) -> dict[str, Any] | None:
    return next((c for c in components if _kind(c) == kind), None)


def _text(component: dict[str, Any] | None) -> str:
    return str(component.get("text") or "") if component else ""


def _unique(items: list[str]) -> list[str]:
    return list(dict.fromkeys(items))


def infer_parameter_format(components: list[dict[str, Any]]) -> str:
    """Older Graph answers omit `parameter_format`: read it from the placeholders (docs/architecture.md, "Templates and media")."""
    texts = " ".join(_text(c) for c in components)
    if _NAMED_PLACEHOLDER.search(texts) and not _POSITIONAL_PLACEHOLDER.search(texts):
        return NAMED
    return POSITIONAL


def placeholders(text: str, parameter_format: str) -> list[str]:
    """Distinct placeholders; positional ones in numeric order, named ones as they appear."""
    if parameter_format == NAMED:
        return _unique(_NAMED_PLACEHOLDER.findall(text))
    return sorted(_unique(_POSITIONAL_PLACEHOLDER.findall(text)), key=int)


def body_text(components: list[dict[str, Any]]) -> str | None:
    body = _component(components, "BODY")
    return _text(body) if body else None


def _button_reasons(components: list[dict[str, Any]]) -> list[str]:
    reasons: list[str] = []
    for component in components:
        if _kind(component) != "BUTTONS":
            continue
        for button in component.get("buttons") or ():
            kind = str(button.get("type", "")).upper()
            if kind in _PARAMETER_BUTTONS:
                reasons.append(_PARAMETER_BUTTONS[kind])
            elif kind == "URL" and "{{" in str(button.get("url", "")):
                reasons.append("URL buttons with a variable are not supported")
    return reasons


def _quick_reply_count(components: list[dict[str, Any]]) -> int:
    return sum(
        1
        for component in components
        if _kind(component) == "BUTTONS"
        for button in component.get("buttons") or ()
        if str(button.get("type", "")).upper() == "QUICK_REPLY"
    )


def _format_reasons(
    components: list[dict[str, Any]], parameter_format: str, variables: list[str], header_format: str | None
) -> list[str]:
    reasons: list[str] = []
    if parameter_format != POSITIONAL:
        reasons.append("named parameters are not supported")
    elif variables != [str(i) for i in range(1, len(variables) + 1)]:
        reasons.append("body placeholders are not numbered {{1}} to {{N}}")
    if header_format == "TEXT" and placeholders(_text(_component(components, "HEADER")), parameter_format):
        reasons.append("header text variables are not supported")
    elif header_format not in (None, "TEXT") and header_format not in MEDIA_HEADER_FORMATS:
        reasons.append(f"header format {header_format} is not supported")
    unsupported = sorted({_kind(c) for c in components} - _SUPPORTED_COMPONENTS)
    reasons.extend(f"{kind.lower()} components are not supported" for kind in unsupported)
    return reasons + _button_reasons(components)


def template_facts(raw: dict[str, Any]) -> TemplateFacts:
    """Read one item of `GET /{waba}/message_templates` into what Herald stores."""
    components = [c for c in raw.get("components") or () if isinstance(c, dict)]
    parameter_format = str(raw.get("parameter_format") or infer_parameter_format(components)).upper()
    header = _component(components, "HEADER")
    header_format = str(header.get("format") or "TEXT").upper() if header else None
    variables = placeholders(_text(_component(components, "BODY")), parameter_format)
    status = str(raw.get("status") or "").upper() or "UNKNOWN"
    reasons = _format_reasons(components, parameter_format, variables, header_format)
    if status != SENDABLE_STATUS:
        reasons.append(f"status {status}")
    category = raw.get("category")
    return TemplateFacts(
        meta_id=str(raw["id"]) if raw.get("id") is not None else None,
        name=str(raw.get("name") or ""),
        language=str(raw.get("language") or ""),
        status=status,
        category=str(category).upper() if category else None,
        parameter_format=parameter_format,
        components=components,
        variables=variables,
        header_format=header_format,
        quick_reply_count=_quick_reply_count(components),
        reasons=reasons,
    )
