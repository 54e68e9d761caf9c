"""``/settings``: the organization's settings that replies obey — its opt-out and opt-in keywords."""

from __future__ import annotations

from fastapi import APIRouter
from pydantic import BaseModel, Field

from herald.auth.deps import AdminPrincipal, CurrentPrincipal
from herald.kit.deps import ReadSessionDep, SessionDep
from herald.replies import keywords

router = APIRouter(tags=["settings"])

_OUT = ("A reply whose whole text is one of these (case, accents and surrounding punctuation ignored) opts the "
        "contact out of marketing; it still reaches the bot flow.")
_IN = "A reply whose whole text is one of these opts the contact back in."


class SettingsOut(BaseModel):
    opt_out_keywords: list[str] = Field(description=_OUT)
    opt_in_keywords: list[str] = Field(description=_IN)


class SettingsUpdate(BaseModel):
    """Only the lists sent change; each replaces the list it names."""

    opt_out_keywords: list[str] | None = Field(default=None, max_length=keywords.MAX_KEYWORDS, description=_OUT)
    opt_in_keywords: list[str] | None = Field(default=None, max_length=keywords.MAX_KEYWORDS, description=_IN)


def _out(found: keywords.Keywords) -> SettingsOut:
    return SettingsOut(opt_out_keywords=list(found.opt_out), opt_in_keywords=list(found.opt_in))


@router.get("/settings", response_model=SettingsOut)
async def get_settings(session: ReadSessionDep, principal: CurrentPrincipal) -> SettingsOut:
    return _out(await keywords.keywords_of(session, org_id=principal.org_id))


@router.patch("/settings", response_model=SettingsOut)
async def update_settings(body: SettingsUpdate, session: SessionDep, principal: AdminPrincipal) -> SettingsOut:
    return _out(await keywords.save(session, org_id=principal.org_id, opt_out=body.opt_out_keywords,
                                    opt_in=body.opt_in_keywords))
