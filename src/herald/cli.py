"""The ``herald`` command line."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Annotated, Any, TypeVar

import typer
from rich.console import Console

from herald.auth.principal import Role
from herald.config import get_settings

app = typer.Typer(help="Herald: WhatsApp campaigns with an exact record of every message.", no_args_is_help=True)
org_app = typer.Typer(help="Organizations.", no_args_is_help=True)
user_app = typer.Typer(help="Users of the web UI.", no_args_is_help=True)
apikey_app = typer.Typer(help="API keys.", no_args_is_help=True)
contacts_app = typer.Typer(help="Contacts.", no_args_is_help=True)
app.add_typer(org_app, name="org")
app.add_typer(user_app, name="user")
app.add_typer(apikey_app, name="apikey")
app.add_typer(contacts_app, name="contacts")

# On SIGTERM, how long `herald serve` waits for open connections (uploads, event streams) before
# it stops the embedded worker: the whole stop stays within 10 s.
SHUTDOWN_GRACE_SECONDS = 5

console = Console()
err = Console(stderr=True)
T = TypeVar("T")


def run_db(work: Callable[..., Awaitable[T]]) -> T:
    """Run one unit of work against the configured database (migrating SQLite first), then dispose."""
    from herald.kit import migrate
    from herald.kit.db import Database

    settings = get_settings()
    if settings.is_sqlite:
        migrate.upgrade(settings.database_url)

    async def main() -> T:
        database = Database.connect(settings.database_url)
        try:
            async with database.session() as session:
                return await work(session, settings)
        finally:
            await database.dispose()

    return asyncio.run(main())


def _fail(exc: Exception) -> None:
    from herald.kit.errors import HeraldError

    if isinstance(exc, HeraldError):
        err.print(f"[red]error:[/red] {exc.message}")
        raise typer.Exit(1) from exc
    raise exc


@app.command()
def migrate() -> None:
    """Upgrade the database to the latest schema."""
    from herald.kit import migrate as migrations

    settings = get_settings()
    migrations.upgrade(settings.database_url)
    console.print("database is at the latest schema")


@app.command()
def serve(
    host: str = "127.0.0.1",
    port: int = 8000,
    worker: Annotated[bool | None, typer.Option(
        "--worker/--no-worker", help="Run the worker in this process (default: HERALD_EMBEDDED_WORKER, on for SQLite).",
    )] = None,
) -> None:
    """Serve the API, the webhooks and the web UI."""
    import signal

    import uvicorn

    from herald.app import configure_logging, create_app

    settings = get_settings()
    configure_logging(settings)
    # With JSON logs uvicorn's own loggers go through the same handler (log_config=None leaves them bare).
    log_config = None if settings.log_json else uvicorn.config.LOGGING_CONFIG
    # uvicorn stops gracefully on SIGTERM, then raises the signal again with the handler that was
    # there before it: this one, so that a graceful stop exits with 0, as `herald worker` does.
    signal.signal(signal.SIGTERM, lambda *_: None)
    uvicorn.run(
        create_app(settings, worker=worker), host=host, port=port, log_level="info", access_log=False,
        log_config=log_config, timeout_graceful_shutdown=SHUTDOWN_GRACE_SECONDS,
    )


@app.command()
def worker(
    metrics_port: Annotated[int | None, typer.Option(
        envvar="HERALD_METRICS_PORT", help="Serve this worker's Prometheus counters on this port.")] = None,
) -> None:
    """Dispatch campaigns and run background jobs; run any number of them against PostgreSQL."""
    import signal
    from datetime import timedelta

    from herald.app import configure_logging, freeze_startup_heap
    from herald.dispatch.worker import Worker
    from herald.kit.crypto import SecretBox
    from herald.kit.db import Database
    from herald.kit.outbound import OutboundPolicy
    from herald.ops.logs import bind

    settings = get_settings()
    configure_logging(settings)
    if metrics_port:
        from herald.ops.metrics import serve_worker_metrics

        serve_worker_metrics(metrics_port)
    if settings.is_sqlite:
        from herald.kit import migrate as migrations

        migrations.upgrade(settings.database_url)
    freeze_startup_heap()  # as `herald serve` does: full collections then skip the imported modules

    async def main() -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)
        database = Database.connect(settings.database_url)
        try:
            worker = Worker(
                database=database, box=SecretBox(settings.encryption_keys), worker_id=settings.worker_id or None,
                outbound=OutboundPolicy(allow_private_urls=settings.allow_private_urls),
                send_lease=timedelta(seconds=settings.send_lease_seconds),
                database_thread=bool(settings.worker_batch_thread),
            )
            with bind(worker_id=worker.worker_id):
                await worker.run(stop)
        finally:
            await database.dispose()

    _run_fast(main())


def _run_fast(coroutine: Any) -> None:
    """uvloop when it is installed (it comes with uvicorn[standard], as for `herald serve`): the
    worker's event loop is busy with HTTP client work, which uvloop makes markedly cheaper."""
    try:
        import uvloop
    except ImportError:
        asyncio.run(coroutine)
        return
    uvloop.run(coroutine)


@org_app.command("create")
def org_create(
    name: str,
    email: Annotated[str, typer.Option(help="Email of the first admin user.")],
    password: Annotated[str, typer.Option(help="Password of the first admin user.")],
) -> None:
    """Create an organization and its first admin; prints ORG=<slug> and API_KEY=<key>."""
    from herald.auth import service

    async def work(session, settings):  # type: ignore[no-untyped-def]
        org = await service.create_org(session, name=name, secret_key=settings.secret_key)
        await service.create_user(session, org_id=org.id, email=email, password=password, role=Role.admin)
        _, key = await service.create_api_key(
            session, org_id=org.id, role=Role.admin, name="first admin key", secret_key=settings.secret_key
        )
        return org.slug, key

    try:
        slug, key = run_db(work)
    except Exception as exc:
        _fail(exc)
        return
    print(f"ORG={slug}")
    print(f"API_KEY={key}")


@user_app.command("create")
def user_create(
    org: Annotated[str, typer.Option(help="Organization slug.")],
    email: Annotated[str, typer.Option()],
    password: Annotated[str, typer.Option()],
    role: Annotated[Role, typer.Option()] = Role.editor,
) -> None:
    """Create a user in an organization."""
    from herald.auth import service

    async def work(session, settings):  # type: ignore[no-untyped-def]
        organization = await service.org_by_slug(session, slug=org)
        user = await service.create_user(session, org_id=organization.id, email=email, password=password, role=role)
        return user.id

    try:
        user_id = run_db(work)
    except Exception as exc:
        _fail(exc)
        return
    print(f"USER_ID={user_id}")


def _set_user_active(email: str, *, active: bool) -> None:
    from herald.auth import repository, user_access
    from herald.kit.errors import NotFound

    async def work(session, settings):  # type: ignore[no-untyped-def]
        user = await repository.user_by_email(session, email=email.strip().lower())
        if user is None:
            raise NotFound(f"no user with email {email.strip().lower()}")
        await user_access.update_user(session, org_id=user.org_id, user_id=user.id, active=active)

    try:
        run_db(work)
    except Exception as exc:
        _fail(exc)
        return
    if active:
        console.print(f"{email.strip().lower()} may sign in again")
    else:
        console.print(f"{email.strip().lower()} deactivated: cannot sign in, sessions ended")


@user_app.command("deactivate")
def user_deactivate(email: Annotated[str, typer.Argument(help="The user's email.")]) -> None:
    """Stop a user signing in and end their sessions at once (the organization's API keys stay)."""
    _set_user_active(email, active=False)


@user_app.command("activate")
def user_activate(email: Annotated[str, typer.Argument(help="The user's email.")]) -> None:
    """Let a deactivated user sign in again."""
    _set_user_active(email, active=True)


@apikey_app.command("create")
def apikey_create(
    org: Annotated[str, typer.Option(help="Organization slug.")],
    role: Annotated[Role, typer.Option()] = Role.editor,
    name: Annotated[str, typer.Option()] = "",
) -> None:
    """Create an API key; prints API_KEY=<key> (shown once)."""
    from herald.auth import service

    async def work(session, settings):  # type: ignore[no-untyped-def]
        organization = await service.org_by_slug(session, slug=org)
        _, key = await service.create_api_key(
            session, org_id=organization.id, role=role, name=name, secret_key=settings.secret_key
        )
        return key

    try:
        key = run_db(work)
    except Exception as exc:
        _fail(exc)
        return
    print(f"API_KEY={key}")


@contacts_app.command("import")
def contacts_import(
    file: Annotated[Path, typer.Argument(exists=True, dir_okay=False, help="CSV: phone,name,tags and vt:KEY columns.")],
    org: Annotated[str, typer.Option(help="Organization slug.")],
) -> None:
    """Import contacts from a CSV (rows upsert by phone); prints a summary and the rejected lines."""
    from herald.contacts.commands import import_file, summary_lines

    try:
        result = import_file(file, org_slug=org, settings=get_settings(), console=err)
    except Exception as exc:
        _fail(exc)
        return
    for line in summary_lines(result):
        print(line)


@app.command()
def simulator(
    webhook_url: Annotated[str | None, typer.Option(help="Where to POST signed webhooks.")] = None,
    app_secret: Annotated[str, typer.Option(help="App secret that signs the webhooks.")] = "sim-secret",
    host: str = "127.0.0.1",
    port: int = 8090,
    scenario: Annotated[str | None, typer.Option(help="Scenario JSON file.")] = None,
) -> None:
    """Run the WhatsApp Cloud API simulator."""
    from herald.simulator import serve as serve_simulator

    serve_simulator(host=host, port=port, webhook_url=webhook_url, app_secret=app_secret, scenario_file=scenario)


@app.command("rotate-keys")
def rotate_keys() -> None:
    """Re-encrypt every stored secret with the first key of HERALD_ENCRYPTION_KEYS (after prepending a new one)."""
    from herald.kit.crypto import SecretBox
    from herald.numbers.service import refresh_verify_token_digests
    from herald.ops.keys import rotate_secrets

    async def work(session, settings):  # type: ignore[no-untyped-def]
        box = SecretBox(settings.encryption_keys)
        counts = await rotate_secrets(session, box)
        # Keyed by HERALD_SECRET_KEY: recomputed here too, after changing it (else on the next handshake).
        counts["verify_token_digests"] = await refresh_verify_token_digests(
            session, box, secret_key=settings.secret_key, every=True
        )
        return counts

    try:
        counts = run_db(work)
    except Exception as exc:
        _fail(exc)
        return
    for name, count in counts.items():
        print(f"{name}={count}")
    console.print("every stored secret is now encrypted with the first key; older keys may be removed")


def main() -> None:
    app()


@app.command()
def demo(
    port: int = 8000,
    sim_port: Annotated[int, typer.Option(help="Port of the WhatsApp simulator.")] = 8090,
    contacts: Annotated[int, typer.Option(min=1, help="How many demo contacts to seed.")] = 3000,
    no_browser: Annotated[bool, typer.Option("--no-browser", help="Do not open a browser.")] = False,
    run_campaign: Annotated[bool, typer.Option("--run-campaign", help="Run a demo campaign and exit.")] = False,
    keep: Annotated[bool, typer.Option("--keep", help="Reuse ./var/demo instead of starting afresh.")] = False,
) -> None:
    """Simulator, server, worker and a demo bot in one process tree on SQLite under ./var/demo, seeded."""
    from herald.demo.runner import Options, run

    options = Options(contacts=contacts, port=port, sim_port=sim_port, open_browser=not no_browser,
                      run_campaign=run_campaign, keep=keep)
    raise typer.Exit(run(options, console))
