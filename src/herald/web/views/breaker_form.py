"""The quality breaker's fieldset (``wizard/_breaker.html``) read from a form: the wizard's first step
and the stats page of a running campaign post the same fields (herald.quality.breaker)."""

from __future__ import annotations

from typing import Any

BREAKER_THRESHOLDS = ("failure_rate", "opt_out_rate", "block_signals")
BREAKER_NUMBERS = (*BREAKER_THRESHOLDS, "window", "min_sends")
BREAKER_SWITCHES = ("enabled", "number_quality", "template_quality")


def breaker_from_form(form: Any) -> dict[str, Any]:
    """``{"breaker": …}`` for the campaign schema to validate: an empty threshold turns its rule off;
    an empty window or sample takes the default. Nothing when the form has no breaker fieldset."""
    if "breaker.present" not in form:
        return {}
    values: dict[str, Any] = {name: form.get(f"breaker.{name}") == "on" for name in BREAKER_SWITCHES}
    for name in BREAKER_NUMBERS:
        raw = str(form.get(f"breaker.{name}") or "").strip()[:20]
        if raw or name in BREAKER_THRESHOLDS:
            values[name] = raw or None
    return {"breaker": values}
