"""``/webhooks/whatsapp``: the verification handshake and Meta's signed POSTs."""

from __future__ import annotations

from fastapi import APIRouter, Query, Request
from fastapi.responses import JSONResponse, PlainTextResponse

from herald.kit.deps import DatabaseDep, SecretBoxDep, SessionDep, SettingsDep
from herald.numbers import service as numbers_service
from herald.webhooks import ingest

router = APIRouter(tags=["webhooks"])


@router.get("/webhooks/whatsapp", response_class=PlainTextResponse)
async def verify(
    session: SessionDep,
    box: SecretBoxDep,
    settings: SettingsDep,
    mode: str = Query("", alias="hub.mode"),
    token: str = Query("", alias="hub.verify_token"),
    challenge: str = Query("", alias="hub.challenge"),
) -> PlainTextResponse:
    """Meta's handshake: echo the challenge when the verify token is one of a registered number.

    Found by its digest (an index lookup), not by decrypting every number's token.
    """
    if mode == "subscribe" and token:
        if await numbers_service.verify_token_matches(
            session, box, secret_key=settings.secret_key, verify_token=token
        ):
            return PlainTextResponse(challenge)
    return PlainTextResponse("verify token does not match", status_code=403)


@router.post("/webhooks/whatsapp")
async def receive(request: Request, box: SecretBoxDep, database: DatabaseDep) -> JSONResponse:
    # At most ingest.MAX_BODY_BYTES, declared or chunked: the body limit (app.body_routes) cuts
    # off a longer one as it streams in, before it is all read.
    raw = await request.body()
    # Stored and committed before answering: a 200 tells Meta never to send these events again.
    stored = await ingest.receive_stored(database, box, raw=raw, signature=request.headers.get("x-hub-signature-256"))
    wake = getattr(request.app.state, "webhook_wakeup", None)
    if wake is not None and stored.new:
        wake.set()
    return JSONResponse({"received": stored.received, "new": stored.new})
