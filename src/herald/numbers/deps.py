"""The process's shared Cloud API client, as a FastAPI dependency."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, FastAPI, Request

from herald.app import on_lifespan
from herald.whatsapp import CloudAPIClient


async def get_cloud_client(request: Request) -> CloudAPIClient:
    """One aiohttp-backed client per process (ARCHITECTURE §4), created on first use."""
    client: CloudAPIClient | None = getattr(request.app.state, "cloud_client", None)
    if client is None:
        client = CloudAPIClient(outbound=request.app.state.outbound)
        # start() never yields to the loop, so a concurrent request sees the client already started.
        request.app.state.cloud_client = client
        await client.start()
    return client


async def _nothing_to_start(app: FastAPI) -> None:
    return None


async def close_cloud_client(app: FastAPI) -> None:
    client: CloudAPIClient | None = getattr(app.state, "cloud_client", None)
    if client is not None:
        app.state.cloud_client = None
        await client.close()


on_lifespan(_nothing_to_start, close_cloud_client)

CloudClientDep = Annotated[CloudAPIClient, Depends(get_cloud_client)]
