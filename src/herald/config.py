"""Settings from the environment (prefix ``HERALD_``), with secrets generated into ``./var`` on first run."""

from __future__ import annotations

import secrets
from functools import lru_cache
from pathlib import Path

from cryptography.fernet import Fernet
from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="HERALD_", extra="ignore")

    var_dir: Path = Path("var")
    database_url: str = ""
    secret_key: str = ""
    encryption_keys: str = ""
    embedded_worker: bool | None = None
    log_level: str = "INFO"
    log_json: bool = False
    # Cookies get `Secure` when the UI is served over HTTPS (behind a proxy).
    secure_cookies: bool = False
    max_upload_bytes: int = Field(default=200 * 1024 * 1024)
    worker_id: str = ""
    # How long a sender holds claimed messages before the reaper takes them back (unknown if they may have left).
    send_lease_seconds: float = 120.0
    # How long a message may stay `unknown` (it may have reached WhatsApp; no status came) before
    # it is listed for an operator to send again (campaigns/resend.py). Never sent again by itself.
    unknown_resend_after_hours: float = Field(default=24.0, ge=0)
    # `herald worker`: its database work (claiming and recording batches, applying webhooks) on the
    # database loop, a thread of its own (dispatch/database_loop.py); by default on PostgreSQL. The
    # name is HERALD_WORKER_BATCH_THREAD's, which stays as it is.
    worker_batch_thread: bool | None = None
    # Outbound URL policy (src/herald/kit/outbound.py): bot flows and Graph API bases on loopback and
    # private networks, and plain http to them, only when true. The demo, tests and benchmarks set it.
    allow_private_urls: bool = False

    def resolved(self) -> Settings:
        """Fill the defaults that depend on the var directory (database file, generated keys)."""
        self.var_dir.mkdir(parents=True, exist_ok=True)
        if not self.database_url:
            self.database_url = f"sqlite+aiosqlite:///{(self.var_dir / 'herald.db').resolve()}"
        if not self.secret_key:
            self.secret_key = _read_or_create(self.var_dir / "secret_key", lambda: secrets.token_urlsafe(48))
        if not self.encryption_keys:
            self.encryption_keys = _read_or_create(
                self.var_dir / "encryption_keys", lambda: Fernet.generate_key().decode()
            )
        if self.embedded_worker is None:
            self.embedded_worker = self.is_sqlite
        if self.worker_batch_thread is None:
            self.worker_batch_thread = not self.is_sqlite
        return self

    @property
    def is_sqlite(self) -> bool:
        return self.database_url.startswith("sqlite")


def _read_or_create(path: Path, make: object) -> str:
    if path.exists():
        return path.read_text().strip()
    value = make()  # type: ignore[operator]
    path.write_text(str(value))
    path.chmod(0o600)
    return str(value)


@lru_cache
def get_settings() -> Settings:
    return Settings().resolved()
