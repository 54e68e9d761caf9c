"""Settings → Rate card: the prices the forecast, the actual cost and the budgets use (docs/costs.md).
Everyone sees it and downloads it as CSV; admins upload a replacement (errors by line), override
single rates and the currency, or go back to Herald's card."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Form, Request
from fastapi.responses import HTMLResponse, PlainTextResponse, Response
from sqlalchemy.ext.asyncio import AsyncSession
from starlette.datastructures import UploadFile

from herald.kit.deps import SessionDep
from herald.kit.errors import HeraldError, Invalid
from herald.pricing import rates
from herald.pricing.card import CATEGORIES, MAX_CARD_BYTES, parse_price, to_csv
from herald.web.deps import UiAdmin, UiUser, WebUser, field_errors, redirect, render

router = APIRouter(prefix="/ui/settings/rate-card")
PAGE = "/ui/settings/rate-card"


async def _page(request: Request, session: AsyncSession, user: WebUser, *, errors: dict[str, str] | None = None,
                typed: dict[str, str] | None = None, status_code: int = 200) -> HTMLResponse:
    org = user.principal.org_id
    custom, overrides, currency = await rates.stored(session, org_id=org)
    card = await rates.card_of(session, org_id=org)
    context: dict[str, Any] = {"card": card, "custom": custom, "overrides": overrides, "currency_set": currency,
                               "categories": CATEGORIES, "errors": errors or {}, "typed": typed or {}}
    return render(request, "settings/rate_card.html", context, user=user, status_code=status_code)


@router.get("", response_class=HTMLResponse)
async def rate_card_page(request: Request, session: SessionDep, user: UiUser) -> HTMLResponse:
    return await _page(request, session, user)


@router.get(".csv")
async def rate_card_csv(session: SessionDep, user: UiUser) -> Response:
    card = await rates.card_of(session, org_id=user.principal.org_id)
    return PlainTextResponse(to_csv(card), media_type="text/csv; charset=utf-8",
                             headers={"Content-Disposition": 'attachment; filename="rate-card.csv"'})


@router.post("/upload", response_class=HTMLResponse)
async def upload(request: Request, session: SessionDep, user: UiAdmin) -> HTMLResponse:
    """The upload form's answer (app.js puts it under the form): saved, or every bad line."""
    async with request.form(max_files=1, max_fields=5) as form:
        file = form.get("file")
        if not isinstance(file, UploadFile) or not file.filename:
            return _result(request, user, error="Choose a CSV file.", status_code=422)
        data = await file.read(MAX_CARD_BYTES + 1)
    if len(data) > MAX_CARD_BYTES:
        return _result(request, user, error=f"A rate card is at most {MAX_CARD_BYTES // 1024} KiB.", status_code=413)
    try:
        card = await rates.replace_card(session, org_id=user.principal.org_id, text=data.decode("utf-8-sig"))
    except UnicodeDecodeError:
        return _result(request, user, error="The file is not UTF-8 text.", status_code=422)
    except HeraldError as exc:
        await session.rollback()
        lines = [d.get("message", "") for d in (exc.details or []) if isinstance(d, dict)]
        return _result(request, user, error=exc.message, lines=lines, status_code=exc.status_code)
    return _result(request, user, saved=len(card.rates))


def _result(request: Request, user: WebUser, *, error: str | None = None, lines: list[str] | None = None,
            saved: int | None = None, status_code: int = 200) -> HTMLResponse:
    return render(request, "settings/_rate_card_result.html", {"error": error, "lines": lines or [], "saved": saved},
                  user=user, status_code=status_code)


@router.post("/override", response_class=HTMLResponse)
async def override(
    request: Request, session: SessionDep, user: UiAdmin,
    market: Annotated[str, Form(max_length=100)] = "", category: Annotated[str, Form(max_length=32)] = "",
    price: Annotated[str, Form(max_length=30)] = "",
) -> Response:
    """One rate over the card (the others kept)."""
    org = user.principal.org_id
    name = market.strip()
    try:
        if not name:
            raise Invalid("name the market, as the card lists it (e.g. Argentina, Other)", field="market")
        if category not in CATEGORIES:
            raise Invalid(f"choose one of {', '.join(CATEGORIES)}", field="category")
        value = parse_price(price, where="price")
        _, overrides, currency_code = await rates.stored(session, org_id=org)
        merged: dict[str, dict[str, Any]] = {m: dict(row) for m, row in overrides.items()}
        merged.setdefault(name, {})[category] = value
        await rates.set_overrides(session, org_id=org, overrides=merged, currency=currency_code)
    except HeraldError as exc:
        await session.rollback()
        return await _page(request, session, user, errors=field_errors(exc), status_code=exc.status_code,
                           typed={"market": market, "category": category, "price": price})
    return redirect(PAGE, request, ok=f"{name} {category} now priced at {value:g}.")


@router.post("/currency", response_class=HTMLResponse)
async def currency(request: Request, session: SessionDep, user: UiAdmin,
                   code: Annotated[str, Form(alias="currency", max_length=10)] = "") -> Response:
    """The currency prices and budgets are in (empty: the card's)."""
    org = user.principal.org_id
    try:
        _, overrides, _ = await rates.stored(session, org_id=org)
        await rates.set_overrides(session, org_id=org, overrides=overrides, currency=code.strip() or None)
    except HeraldError as exc:
        await session.rollback()
        return await _page(request, session, user, errors=field_errors(exc), status_code=exc.status_code,
                           typed={"currency": code})
    return redirect(PAGE, request, ok="Currency saved.")


@router.post("/clear-overrides", response_class=HTMLResponse)
async def clear_overrides(request: Request, session: SessionDep, user: UiAdmin) -> Response:
    org = user.principal.org_id
    _, _, currency_code = await rates.stored(session, org_id=org)
    await rates.set_overrides(session, org_id=org, overrides={}, currency=currency_code)
    return redirect(PAGE, request, ok="Overrides removed.")


@router.post("/reset", response_class=HTMLResponse)
async def reset(request: Request, session: SessionDep, user: UiAdmin) -> Response:
    await rates.reset_card(session, org_id=user.principal.org_id)
    return redirect(PAGE, request, ok="Back to Herald's rate card.")
