"""``/settings``: the organization's settings — the opt-out and opt-in keywords replies obey, and the
frequency cap campaigns obey (``campaigns/frequency_cap.py``)."""

from __future__ import annotations

from fastapi import APIRouter
from pydantic import BaseModel, Field

from herald.auth.deps import AdminPrincipal, CurrentPrincipal
from herald.campaigns import frequency_cap
from herald.kit.deps import ReadSessionDep, SessionDep
from herald.replies import keywords

router = APIRouter(tags=["settings"])

_OUT = ("A reply whose whole text is one of these (case, accents and surrounding punctuation ignored) opts the "
        "contact out of marketing; it still reaches the bot flow.")
_IN = "A reply whose whole text is one of these opts the contact back in."
_CAP_MESSAGES = ("At most this many marketing messages per contact in any frequency_cap_days days, across "
                 "campaigns (test and exempt campaigns neither count nor are capped); null with "
                 "frequency_cap_days: no cap.")
_CAP_DAYS = "The frequency cap's window, in days; set with frequency_cap_messages, or both null."


class SettingsOut(BaseModel):
    opt_out_keywords: list[str] = Field(description=_OUT)
    opt_in_keywords: list[str] = Field(description=_IN)
    frequency_cap_messages: int | None = Field(description=_CAP_MESSAGES)
    frequency_cap_days: int | None = Field(description=_CAP_DAYS)


class SettingsUpdate(BaseModel):
    """Only the lists sent change; each replaces the list it names."""

    opt_out_keywords: list[str] | None = Field(default=None, max_length=keywords.MAX_KEYWORDS, description=_OUT)
    opt_in_keywords: list[str] | None = Field(default=None, max_length=keywords.MAX_KEYWORDS, description=_IN)
    frequency_cap_messages: int | None = Field(default=None, ge=1, le=frequency_cap.MAX_MESSAGES,
                                               description=_CAP_MESSAGES)
    frequency_cap_days: int | None = Field(default=None, ge=1, le=frequency_cap.MAX_DAYS, description=_CAP_DAYS)


def _out(found: keywords.Keywords, cap: frequency_cap.FrequencyCap | None) -> SettingsOut:
    return SettingsOut(
        opt_out_keywords=list(found.opt_out), opt_in_keywords=list(found.opt_in),
        frequency_cap_messages=cap.messages if cap else None, frequency_cap_days=cap.days if cap else None,
    )


@router.get("/settings", response_model=SettingsOut)
async def get_settings(session: ReadSessionDep, principal: CurrentPrincipal) -> SettingsOut:
    return _out(await keywords.keywords_of(session, org_id=principal.org_id),
                await frequency_cap.cap_of(session, org_id=principal.org_id))


@router.patch("/settings", response_model=SettingsOut)
async def update_settings(body: SettingsUpdate, session: SessionDep, principal: AdminPrincipal) -> SettingsOut:
    found = await keywords.save(session, org_id=principal.org_id, opt_out=body.opt_out_keywords,
                                opt_in=body.opt_in_keywords)
    cap = await frequency_cap.cap_of(session, org_id=principal.org_id)
    given = body.model_fields_set & {"frequency_cap_messages", "frequency_cap_days"}
    if given:  # one of the two alone changes it; both null removes it
        messages = body.frequency_cap_messages if "frequency_cap_messages" in given else (cap.messages if cap else None)
        days = body.frequency_cap_days if "frequency_cap_days" in given else (cap.days if cap else None)
        cap = await frequency_cap.save(session, org_id=principal.org_id, messages=messages, days=days)
    return _out(found, cap)
