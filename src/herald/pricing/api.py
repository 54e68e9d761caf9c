"""``/rate-card``: the organization's rate card, which prices the forecast, the actual cost and the
budget (docs/costs.md). Everyone reads it; admins replace it (a CSV upload), override single rates
and the currency, or go back to Herald's card."""

from __future__ import annotations

from fastapi import APIRouter, Request
from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy.ext.asyncio import AsyncSession
from starlette.datastructures import UploadFile

from herald.auth.deps import AdminPrincipal, CurrentPrincipal
from herald.kit.deps import ReadSessionDep, SessionDep
from herald.kit.errors import Invalid, TooLarge
from herald.kit.openapi import file_upload_body
from herald.pricing import rates
from herald.pricing.card import CATEGORIES, MAX_CARD_BYTES, RateCard

router = APIRouter(tags=["rate card"])

_UPLOAD = file_upload_body(
    "Optional '# effective: YYYY-MM-DD', '# currency: USD', '# source: ...' lines, then a CSV with the header "
    "market,marketing,utility,authentication; one row per market, an 'Other' row required.")


class MarketRates(BaseModel):
    market: str
    marketing: float
    utility: float
    authentication: float


class RateCardOut(BaseModel):
    effective: str | None = Field(description="the date the card's prices took effect at Meta")
    currency: str
    source: str | None
    custom: bool = Field(description="the organization uploaded this card (false: Herald's own)")
    overrides: dict[str, dict[str, float]] = Field(description="market → category → price, over the card")
    markets: list[MarketRates] = Field(description="the prices in effect, overrides applied")


class OverridesIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    overrides: dict[str, dict[str, float]] = Field(
        default_factory=dict, description="market → category (marketing, utility, authentication) → price; "
                                          "replaces the previous overrides")
    currency: str | None = Field(default=None, description="ISO 4217 code; null: the card's")


def _out(card: RateCard, custom: bool, overrides: dict[str, dict[str, float]]) -> RateCardOut:
    markets = [MarketRates(market=m, **{c: card.rates[m].get(c, 0.0) for c in CATEGORIES}) for m in sorted(card.rates)]
    return RateCardOut(effective=card.effective, currency=card.currency, source=card.source, custom=custom,
                       overrides=overrides, markets=markets)


async def _current(session: AsyncSession, org_id: int) -> RateCardOut:
    custom, overrides, _ = await rates.stored(session, org_id=org_id)
    return _out(await rates.card_of(session, org_id=org_id), custom, overrides)


@router.get("/rate-card", response_model=RateCardOut)
async def get_rate_card(session: ReadSessionDep, principal: CurrentPrincipal) -> RateCardOut:
    return await _current(session, principal.org_id)


@router.put("/rate-card", response_model=RateCardOut, openapi_extra=_UPLOAD)
async def upload_rate_card(request: Request, session: SessionDep, principal: AdminPrincipal) -> RateCardOut:
    """Replaces the organization's card with the uploaded CSV (multipart field ``file``); its overrides stay.
    A bad card is refused whole, with every bad line in ``details``."""
    async with request.form(max_files=1, max_fields=5) as form:
        upload = form.get("file")
        if not isinstance(upload, UploadFile):
            raise Invalid("send the CSV as the multipart field 'file'", field="file")
        data = await upload.read(MAX_CARD_BYTES + 1)
    if len(data) > MAX_CARD_BYTES:
        raise TooLarge(f"a rate card is at most {MAX_CARD_BYTES // 1024} KiB", code="file_too_large")
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise Invalid("the rate card is not UTF-8 text", field="file") from None
    await rates.replace_card(session, org_id=principal.org_id, text=text)
    return await _current(session, principal.org_id)


@router.delete("/rate-card", response_model=RateCardOut)
async def reset_rate_card(session: SessionDep, principal: AdminPrincipal) -> RateCardOut:
    """Back to Herald's shipped card; overrides and currency removed."""
    await rates.reset_card(session, org_id=principal.org_id)
    return await _current(session, principal.org_id)


@router.put("/rate-card/overrides", response_model=RateCardOut)
async def set_overrides(body: OverridesIn, session: SessionDep, principal: AdminPrincipal) -> RateCardOut:
    await rates.set_overrides(session, org_id=principal.org_id, overrides=body.overrides, currency=body.currency)
    return await _current(session, principal.org_id)
