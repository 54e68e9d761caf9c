"""The process's shared Cloud API client, as a FastAPI dependency."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request

from herald.whatsapp import CloudAPIClient


def get_cloud_client(request: Request) -> CloudAPIClient:
    """The one aiohttp-backed client of the process, which the app's lifespan opens and closes."""
    return request.app.state.cloud_client  # type: ignore[no-any-return]


CloudClientDep = Annotated[CloudAPIClient, Depends(get_cloud_client)]
