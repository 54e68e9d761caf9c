"""OpenAPI descriptions for routes that read their body themselves (so that they can check the
caller before reading it) and therefore declare no body parameter FastAPI could describe."""

from __future__ import annotations

from typing import Any


def file_upload_body(description: str | None = None) -> dict[str, Any]:
    """``openapi_extra`` for a route taking one multipart field ``file``."""
    file_schema: dict[str, Any] = {"type": "string", "format": "binary"}
    if description:
        file_schema["description"] = description
    return {
        "requestBody": {
            "required": True,
            "content": {
                "multipart/form-data": {
                    "schema": {"type": "object", "required": ["file"], "properties": {"file": file_schema}}
                }
            },
        }
    }
