"""Template variables for one contact, or the reason the contact cannot receive the message."""

from __future__ import annotations

from typing import Any

from herald.campaigns import reasons

DEFAULT_NAME_FALLBACK = "there"


class MissingValue(Exception):
    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


def render_parameters(
    positions: list[str], variables: dict[str, Any], *, name: str | None, valued_tags: dict[str, str]
) -> list[str]:
    """Body parameters in placeholder order; raises MissingValue for a valued tag the contact lacks."""
    params: list[str] = []
    for position in positions:
        binding = variables.get(position) or {}
        source = binding.get("source")
        if source == "text":
            params.append(str(binding.get("value", "")))
        elif source == "contact_name":
            params.append((name or "").strip() or str(binding.get("fallback") or DEFAULT_NAME_FALLBACK))
        elif source == "valued_tag":
            key = binding.get("key", "")
            value = valued_tags.get(key)
            if value is None or value == "":
                raise MissingValue(reasons.valued_tag_missing(key))
            params.append(value)
        else:
            raise MissingValue(f"variable {position} is not bound")
    return params
