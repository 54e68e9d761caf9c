"""Domain errors: each carries a code and an HTTP status; one handler in app.py renders them."""

from __future__ import annotations

from typing import Any


class HeraldError(Exception):
    status_code = 400
    code = "bad_request"
    headers: dict[str, str] | None = None  # extra response headers, e.g. Retry-After

    def __init__(self, message: str, *, code: str | None = None, details: Any = None) -> None:
        super().__init__(message)
        self.message = message
        if code:
            self.code = code
        self.details = details

    def body(self) -> dict[str, Any]:
        return {"error": {"code": self.code, "message": self.message, "details": self.details}}


class NotFound(HeraldError):
    status_code = 404
    code = "not_found"


class Conflict(HeraldError):
    status_code = 409
    code = "conflict"


class Unauthorized(HeraldError):
    status_code = 401
    code = "unauthorized"


class Forbidden(HeraldError):
    status_code = 403
    code = "forbidden"


class Invalid(HeraldError):
    """Bad input that passed the schema: names the offending field in ``details``."""

    status_code = 422
    code = "validation_error"

    def __init__(self, message: str, *, field: str | None = None, code: str | None = None, details: Any = None):
        if details is None and field is not None:
            details = [{"field": field, "message": message}]
        super().__init__(message, code=code, details=details)


class TooLarge(HeraldError):
    status_code = 413
    code = "payload_too_large"


class DatabaseUnavailable(HeraldError):
    """The database is down, unreachable or read-only (``herald.kit.db_errors``): retry later."""

    status_code = 503
    code = "database_unavailable"
    headers = {"Retry-After": "5"}


class TooManyRequests(HeraldError):
    status_code = 429
    code = "too_many_requests"

    def __init__(self, message: str, *, retry_after: int, code: str | None = None, details: Any = None) -> None:
        super().__init__(message, code=code, details=details)
        self.headers = {"Retry-After": str(retry_after)}
