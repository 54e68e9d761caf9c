"""A small client for Herald's REST API: the demo drives the server the way a user's script would."""

from __future__ import annotations

from types import TracebackType
from typing import Any

import aiohttp
import orjson

API_PREFIX = "/api/v1"


class DemoError(Exception):
    """The demo could not go on; the message says what failed, for the console."""


class ApiError(DemoError):
    def __init__(self, method: str, path: str, status: int, body: Any):
        message = body.get("error", {}).get("message") if isinstance(body, dict) else None
        super().__init__(f"{method} {path} answered {status}: {message or body}")
        self.status = status
        self.code = body.get("error", {}).get("code") if isinstance(body, dict) else None


class Api:
    def __init__(self, base_url: str, api_key: str):
        self.base_url = base_url
        self._session = aiohttp.ClientSession(
            base_url=base_url, headers={"Authorization": f"Bearer {api_key}"},
            timeout=aiohttp.ClientTimeout(total=120),
        )

    async def call(self, method: str, path: str, *, json: Any = None, data: Any = None) -> Any:
        url = API_PREFIX + path
        try:
            async with self._session.request(method, url, json=json, data=data) as response:
                raw = await response.read()
        except (aiohttp.ClientError, TimeoutError) as exc:
            raise DemoError(f"{method} {url} failed: {exc}") from exc
        body: Any = orjson.loads(raw) if raw and response.content_type == "application/json" else raw
        if response.status >= 400:
            raise ApiError(method, url, response.status, body)
        return body

    async def get(self, path: str) -> Any:
        return await self.call("GET", path)

    async def post(self, path: str, json: Any = None) -> Any:
        return await self.call("POST", path, json=json)

    async def upload(self, path: str, *, filename: str, content: bytes, content_type: str) -> Any:
        form = aiohttp.FormData()
        form.add_field("file", content, filename=filename, content_type=content_type)
        return await self.call("POST", path, data=form)

    async def close(self) -> None:
        await self._session.close()

    async def __aenter__(self) -> Api:
        return self

    async def __aexit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                        tb: TracebackType | None) -> None:
        await self.close()
