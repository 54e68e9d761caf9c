"""Secrets at rest (Fernet, rotation-ready), API-key hashing (HMAC) and passwords (argon2)."""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import secrets
from concurrent.futures import ThreadPoolExecutor

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from cryptography.fernet import Fernet, InvalidToken, MultiFernet

_hasher = PasswordHasher()
# argon2 costs ~50-100 ms of CPU and 64 MiB per hash or check. It runs off the event loop, on a pool
# of its own: a flood of logins then neither stalls other requests nor queues ahead of the other
# work sent to threads (CSV reading), and its memory stays bounded (the C code releases the GIL).
PASSWORD_THREADS = 2
_password_pool = ThreadPoolExecutor(max_workers=PASSWORD_THREADS, thread_name_prefix="argon2")
_dummy_hash: str | None = None


class SecretBox:
    """Encrypts with the first key and decrypts with any, so keys can be rotated."""

    def __init__(self, keys: str) -> None:
        fernets = [Fernet(k.strip().encode()) for k in keys.split(",") if k.strip()]
        if not fernets:
            raise ValueError("HERALD_ENCRYPTION_KEYS holds no key")
        self._fernet = MultiFernet(fernets)

    def encrypt(self, plain: str) -> str:
        return self._fernet.encrypt(plain.encode()).decode()

    def decrypt(self, token: str) -> str:
        try:
            return self._fernet.decrypt(token.encode()).decode()
        except InvalidToken as exc:
            raise ValueError("a secret could not be decrypted with any configured key") from exc

    def rotate(self, token: str) -> str:
        return self._fernet.rotate(token.encode()).decode()


async def hash_password(password: str) -> str:
    return await asyncio.get_running_loop().run_in_executor(_password_pool, _hasher.hash, password)


async def verify_password(password_hash: str | None, password: str) -> bool:
    """True when ``password`` matches. ``None`` (no such user) is checked against a dummy hash, so
    it takes as long as a real check, and is always False."""
    global _dummy_hash
    if _dummy_hash is None:
        _dummy_hash = await hash_password(secrets.token_urlsafe(16))
    target = _dummy_hash if password_hash is None else password_hash
    matches = await asyncio.get_running_loop().run_in_executor(_password_pool, _check_password, target, password)
    return matches and password_hash is not None


def _check_password(password_hash: str, password: str) -> bool:
    try:
        return _hasher.verify(password_hash, password)
    except (VerificationError, InvalidHashError):
        return False


API_KEY_PREFIX = "hrld_"


def new_api_key() -> str:
    return API_KEY_PREFIX + secrets.token_urlsafe(32)


def api_key_digest(secret_key: str, api_key: str) -> str:
    return hmac.new(secret_key.encode(), api_key.encode(), hashlib.sha256).hexdigest()


def secret_key_id(secret_key: str) -> str:
    """Names the secret key a digest was made with (no secret: an HMAC of a constant), to find stale digests."""
    return hmac.new(secret_key.encode(), b"herald secret key id", hashlib.sha256).hexdigest()[:8]


def verify_token_digest(secret_key: str, verify_token: str) -> str:
    """``<key id>:<HMAC-SHA256>`` of a number's webhook verify token, for lookups by index."""
    mac = hmac.new(secret_key.encode(), b"whatsapp verify token\0" + verify_token.encode(), hashlib.sha256)
    return f"{secret_key_id(secret_key)}:{mac.hexdigest()}"


def sign_body(secret: str, body: bytes) -> str:
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()
