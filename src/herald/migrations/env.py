"""Alembic environment. Runs on a synchronous engine (pysqlite / psycopg) so it can be called anywhere."""

from __future__ import annotations

from alembic import context
from sqlalchemy import create_engine, pool

import herald.models  # noqa: F401  (registers every table)
from herald.kit.migrate import sync_url
from herald.models.base import Base

config = context.config
target_metadata = Base.metadata


def run_migrations() -> None:
    url = sync_url(config.get_main_option("sqlalchemy.url") or "")
    engine = create_engine(url, poolclass=pool.NullPool)
    with engine.connect() as connection:
        _run(connection)
    engine.dispose()


def _run(connection) -> None:  # type: ignore[no-untyped-def]
    context.configure(
        connection=connection,
        target_metadata=target_metadata,
        render_as_batch=connection.dialect.name == "sqlite",
        compare_type=True,
    )
    with context.begin_transaction():
        context.run_migrations()


run_migrations()
