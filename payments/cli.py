"""Composition root of the command line: `payrecon serve | db upgrade | demo | api-key | staff | keys | recon`."""

from __future__ import annotations

import asyncio
import sys
from collections.abc import Awaitable
from typing import TypeVar

import click

from payments.logs import configure_logging
from payments.persistence import migrate
from payments.security.pii import KeyringError
from payments.security.web import WebSecretError
from payments.settings import Settings, SettingsError, load_settings

T = TypeVar("T")


def _settings() -> Settings:
    try:
        return load_settings()
    except SettingsError as exc:
        click.echo(f"payrecon: configuration error: {exc}", err=True)
        sys.exit(2)


def _run(coro: Awaitable[T]) -> T:
    return asyncio.run(coro)  # type: ignore[arg-type]


@click.group()
def main() -> None:
    """payrecon: repayment links and payment reconciliation."""


@main.command()
def serve() -> None:
    """Run the web service (migrate first with `payrecon db upgrade`)."""
    settings = _settings()
    _serve(settings)


def _serve(settings: Settings) -> None:
    import uvicorn

    from payments.app import create_app

    configure_logging(settings.logging.level, settings.logging.json)
    try:
        app = create_app(settings)
    except (KeyringError, WebSecretError, SettingsError) as exc:
        click.echo(f"payrecon: {exc}", err=True)
        sys.exit(2)
    uvicorn.run(
        app, host=settings.server.host, port=settings.server.port, log_config=None, proxy_headers=True
    )


@main.command()
def worker() -> None:
    """Run the scheduled jobs without the web server (production: set EMBEDDED_WORKER=false on web)."""
    settings = _settings()
    configure_logging(settings.logging.level, settings.logging.json)

    async def go() -> None:
        from payments.services.container import build_services
        from reconciliation.scheduler import build_scheduler

        services = build_services(settings)
        scheduler = build_scheduler(services)
        scheduler.start()
        try:
            await asyncio.Event().wait()
        finally:
            scheduler.shutdown(wait=False)
            await services.aclose()

    try:
        asyncio.run(go())
    except KeyboardInterrupt:
        pass


@main.group()
def jobs() -> None:
    """Scheduled jobs, on demand."""


@jobs.command("run")
@click.argument(
    "name",
    type=click.Choice(
        [
            "expire_links",
            "query_pending_orders",
            "apply_referenced_payments",
            "dispatch_webhooks",
            "check_statements",
        ]
    ),
)
def jobs_run(name: str) -> None:
    """Run one job now (it takes the same lock as the scheduler)."""
    settings = _settings()

    async def go() -> object:
        from payments.services.container import build_services
        from reconciliation.jobs import JOBS, run_locked

        services = build_services(settings)
        try:
            return await run_locked(services.db, name, lambda: JOBS[name](services))
        finally:
            await services.aclose()

    click.echo(f"{name}: {_run(go())}")


@main.group()
def recon() -> None:
    """Reconciliation: statement checks, bank statement import, matching."""


@recon.command("run")
@click.option(
    "--day",
    type=click.DateTime(["%Y-%m-%d"]),
    help="The statement day (Beijing time); default yesterday.",
)
@click.option("--provider", "providers", multiple=True, help="Only this rail (repeatable); default all.")
@click.option("--dry-run", is_flag=True, help="Fetch and compare, report, and write nothing.")
def recon_run(day: object, providers: tuple[str, ...], dry_run: bool) -> None:
    """Check each rail's statement for a day against our payments and notifications, match the
    payments without our reference, and close the day (one `reconciliation.day_closed` per client).

    Safe to repeat: a line already checked is not checked again. Holds the same lock as the
    check_statements job, so it never runs beside it.
    """
    from datetime import datetime

    from rich.progress import Progress

    from payments.services.container import build_services
    from providers.base import ProviderError, StatementError
    from reconciliation.days import close_day
    from reconciliation.jobs import job_lock
    from reconciliation.matching import match_unreferenced
    from reconciliation.statements import check_statement, previous_beijing_day

    settings = _settings()
    when = day.date() if isinstance(day, datetime) else previous_beijing_day()

    async def go() -> list[dict[str, object]] | None:
        services = build_services(settings)
        try:
            names = list(providers) or list(services.rails.providers)
            unknown = [n for n in names if n not in services.rails.providers]
            if unknown:
                raise click.UsageError(f"no enabled rail {', '.join(unknown)}")
            reports: list[dict[str, object]] = []
            async with job_lock(services.db, "check_statements") as mine:
                if not mine:
                    return None
                with Progress() as progress:
                    task = progress.add_task(f"statements of {when}", total=len(names))
                    for name in names:
                        progress.update(task, description=f"{name} {when}")
                        try:
                            reports.append(await check_statement(services, name, when, dry_run=dry_run))
                        except (ProviderError, StatementError) as exc:
                            reports.append({"provider": name, "error": str(exc)})
                        progress.advance(task)
                    # Then the payments without our reference, and the day closed for each checked rail.
                    progress.update(task, description="matching")
                    matched = await match_unreferenced(services, dry_run=dry_run)
                    reports.append({"provider": "matching", "matching": matched.as_dict()})
                    if not dry_run:
                        for r in reports:
                            if "lines" in r:
                                r["closed"] = await close_day(services, str(r["provider"]), when)
            return reports
        finally:
            await services.aclose()

    reports = _run(go())
    if reports is None:
        click.echo("payrecon: the statement check is running elsewhere; try again later", err=True)
        sys.exit(1)
    failed = False
    for r in reports:
        if "error" in r:
            failed = True
            click.echo(f"{r['provider']}: not checked: {r['error']}")
            continue
        if "matching" in r:
            click.echo(f"matching{' (dry run, nothing written)' if dry_run else ''}: {r['matching']}")
            continue
        click.echo(
            f"{r['provider']} {r['day']}{' (dry run, nothing written)' if dry_run else ''}: "
            f"{r['lines']} lines, {r['new_lines']} new; outcomes {r['outcomes']}; "
            f"exceptions {r['exceptions']}; payments {r['payments_fen']} fen, refunds {r['refunds_fen']} "
            f"fen, fees {r['fees_fen']} fen, net {r['net_fen']} fen"
        )
    if failed:
        sys.exit(1)


@recon.command("match")
@click.option("--client", "client_id", help="Only this client's payments (client id); default all.")
@click.option("--dry-run", is_flag=True, help="Decide and report, and write nothing.")
def recon_match(client_id: str | None, dry_run: bool) -> None:
    """Match payments without our reference (bank transfers) to cases with the rules engine.

    Applies a payment only when one candidate is clearly ahead; the rest go to the review queue.
    Safe to repeat: a payment is decided once.
    """
    from rich.progress import Progress

    from payments.services.container import build_services
    from reconciliation.jobs import job_lock
    from reconciliation.matching import match_unreferenced

    settings = _settings()

    async def go() -> dict[str, object] | None:
        services = build_services(settings)
        try:
            async with job_lock(services.db, "match_payments") as mine:
                if not mine:
                    return None
                with Progress() as progress:
                    task = progress.add_task("matching payments", total=None)
                    report = await match_unreferenced(
                        services,
                        client_id=client_id,
                        dry_run=dry_run,
                        progress=lambda n: progress.advance(task, n),
                    )
            out = report.as_dict()
            if dry_run:
                out["decisions"] = [
                    f"{d.payment_id}: {d.outcome.value} ({d.reason.value}) {', '.join(d.case_ids)}"
                    for d in report.decisions
                ]
            return out
        finally:
            await services.aclose()

    result = _run(go())
    if result is None:
        click.echo("payrecon: matching is running elsewhere; try again later", err=True)
        sys.exit(1)
    for line in result.pop("decisions", []):  # type: ignore[attr-defined]
        click.echo(line)
    click.echo(f"{'dry run, nothing written: ' if dry_run else ''}{result}")


@recon.command("account")
@click.argument("code")
@click.option("--client", "client_name", required=True, help="Client name or id that owns the account.")
@click.option("--name", default="", help="A label, e.g. the bank and branch.")
@click.option(
    "--tail", "account_tail", default="", help="Last digits of the account number (checked on import)."
)
def recon_account(code: str, client_name: str, name: str, account_tail: str) -> None:
    """Register a collection bank account CODE, for `payrecon recon import --account CODE`."""
    from payments.domain.errors import DomainError
    from payments.services.access import ensure_client
    from payments.services.container import build_services
    from reconciliation.bank_import import add_account

    settings = _settings()

    async def go() -> str:
        services = build_services(settings)
        try:
            client_id = await ensure_client(services.db, client_name)
            return await add_account(
                services, client_id=client_id, code=code, name=name, account_tail=account_tail
            )
        finally:
            await services.aclose()

    try:
        account_id = _run(go())
    except DomainError as exc:
        click.echo(f"payrecon: {exc.detail}", err=True)
        sys.exit(2)
    click.echo(f"bank account {code} registered ({account_id})")


@recon.command("import")
@click.argument("file", type=click.Path(exists=True, dir_okay=False, readable=True))
@click.option("--account", "account_code", required=True, help="The collection account's code.")
@click.option("--format", "fmt", type=click.Choice(["csv", "camt053", "mt940"]), help="Default: detected.")
@click.option(
    "--mapping",
    "mapping_file",
    type=click.Path(exists=True, dir_okay=False),
    help='TOML file with the CSV column mapping (a table; `preset = "..."` starts from a preset).',
)
@click.option(
    "--preset",
    help="A built-in CSV mapping: debit_credit_columns, income_expense_columns, amount_with_direction.",
)
@click.option("--no-match", is_flag=True, help="Only store the lines; match later.")
def recon_import(
    file: str,
    account_code: str,
    fmt: str | None,
    mapping_file: str | None,
    preset: str | None,
    no_match: bool,
) -> None:
    """Import a bank statement FILE of a collection account: credits become payments to match.

    Safe to repeat: a line already imported (same bank reference) is skipped.
    """
    import tomllib
    from pathlib import Path

    from rich.progress import Progress

    from payments.domain.errors import DomainError
    from payments.services.container import build_services
    from reconciliation.bank_import import import_file
    from reconciliation.bankfiles import CSV_PRESETS, CsvMapping
    from reconciliation.bankfiles.model import BankFileError
    from reconciliation.matching import match_unreferenced

    settings = _settings()
    mapping = None
    try:
        if mapping_file:
            mapping = CsvMapping.from_dict(tomllib.loads(Path(mapping_file).read_text(encoding="utf-8")))
        elif preset:
            if preset not in CSV_PRESETS:
                raise click.UsageError(f"no preset {preset!r}; known: {', '.join(sorted(CSV_PRESETS))}")
            mapping = CSV_PRESETS[preset]
    except (tomllib.TOMLDecodeError, ValueError, TypeError) as exc:
        raise click.UsageError(f"--mapping: {exc}") from None
    data = Path(file).read_bytes()

    async def go() -> tuple[dict[str, object], dict[str, object] | None]:
        services = build_services(settings)
        try:
            with Progress() as progress:
                task = progress.add_task(f"importing {Path(file).name}", total=None)
                report = await import_file(
                    services,
                    data,
                    account_code=account_code,
                    fmt=fmt,
                    mapping=mapping,
                    progress=lambda n: progress.advance(task, n),
                )
            matched = None
            if not no_match and report.credits:
                matched = (await match_unreferenced(services)).as_dict()
            return report.as_dict(), matched
        finally:
            await services.aclose()

    try:
        report, matched = _run(go())
    except (BankFileError, DomainError) as exc:
        click.echo(f"payrecon: {getattr(exc, 'detail', exc)}", err=True)
        sys.exit(2)
    click.echo(
        f"{report['account']}: {report['lines']} lines ({report['format']}), {report['new_lines']} new, "
        f"{report['already_imported']} already imported; {report['credits']} credits "
        f"({report['credits_fen']} fen), {report['debits']} debits ({report['debits_fen']} fen)"
    )
    if matched is not None:
        click.echo(f"matched: {matched}")


@main.group()
def db() -> None:
    """Database schema."""


@db.command("upgrade")
@click.option("--revision", default="head", show_default=True)
def db_upgrade(revision: str) -> None:
    """Apply migrations (the same on SQLite and PostgreSQL)."""
    settings = _settings()
    settings.data_path.mkdir(parents=True, exist_ok=True)
    migrate.upgrade(settings.database_url, revision)
    click.echo(f"database at revision {migrate.head_revision() if revision == 'head' else revision}")


@main.command()
@click.option("--no-serve", is_flag=True, help="Load the demo data and exit.")
def demo(no_serve: bool) -> None:
    """Migrate, load demo data (sandbox providers, SQLite by default), print the URLs, and serve."""
    from payments.demo import load_demo

    settings = _settings()
    if settings.mode != "sandbox":
        click.echo("payrecon: the demo runs only in sandbox mode", err=True)
        sys.exit(2)
    settings.data_path.mkdir(parents=True, exist_ok=True)
    migrate.upgrade(settings.database_url)
    info = _run(load_demo(settings))
    base = settings.server.public_base_url
    click.echo("")
    click.echo(f"payrecon demo is ready (sandbox providers, data in {settings.data_path.resolve()})")
    click.echo(f"  API docs:          {base}/schema/swagger")
    click.echo(f"  OpenAPI schema:    {base}/schema/openapi.json")
    click.echo(f"  Health:            {base}/ready")
    click.echo(f"  Demo API key:      {info.api_key}   (role case_system, client {info.client_name})")
    click.echo(f"  Try:               curl -H 'Authorization: Bearer {info.api_key}' {base}/v1/cases")
    for line in info.more_urls:
        click.echo(f"  {line}")
    click.echo("  Sandbox cashiers:  open a pay link, pass the identity check, pick a channel; the")
    click.echo(
        "                     sandbox pages under /sandbox/<rail>/ play Alipay, WeChat Pay and the bank."
    )
    click.echo("")
    if not no_serve:
        _serve(settings)


@main.group("api-key")
def api_key() -> None:
    """API keys for case systems and finance tools."""


@api_key.command("create")
@click.option("--client", "client_name", required=True, help="Client name (created if new) or client id.")
@click.option(
    "--role", type=click.Choice(["case_system", "finance", "admin"]), default="case_system", show_default=True
)
@click.option("--name", default="", help="A label for the key.")
def api_key_create(client_name: str, role: str, name: str) -> None:
    """Create a key; it is printed once and stored only as a hash."""
    from payments.services.access import Role, create_api_key, ensure_client

    settings = _settings()

    async def go() -> tuple[str, str, str]:
        from payments.services.container import build_services

        services = build_services(settings)
        try:
            client_id = await ensure_client(services.db, client_name)
            key_id, token = await create_api_key(services.db, client_id, Role(role), name)
            return client_id, key_id, token
        finally:
            await services.aclose()

    client_id, key_id, token = _run(go())
    click.echo(f"client {client_id}\nkey id {key_id}\nkey    {token}")


@api_key.command("revoke")
@click.argument("key_id")
def api_key_revoke(key_id: str) -> None:
    """Revoke a key by its id; requests with it get 401 at once."""
    from payments.services.access import revoke_api_key
    from payments.services.container import build_services

    settings = _settings()

    async def go() -> bool:
        services = build_services(settings)
        try:
            return await revoke_api_key(services.db, key_id)
        finally:
            await services.aclose()

    if not _run(go()):
        click.echo(f"payrecon: no active key {key_id}", err=True)
        sys.exit(1)
    click.echo(f"revoked {key_id}")


# -- webhooks (outbound): replay -------------------------------------------------------------------


@main.group()
def webhooks() -> None:
    """Outbound webhooks."""


@webhooks.command("replay")
@click.option("--message", "message_id", help="Send this message (webhook-id msg_...) again.")
@click.option("--endpoint", "endpoint_id", help="With --since: the endpoint (whe_...) to replay to.")
@click.option(
    "--since",
    type=click.DateTime(["%Y-%m-%dT%H:%M:%S%z", "%Y-%m-%d %H:%M:%S%z", "%Y-%m-%d"]),
    help="With --endpoint: every message created since then (a date is taken as UTC midnight).",
)
@click.option("--undelivered-only", is_flag=True, help="With --since: only messages not delivered.")
def webhooks_replay(
    message_id: str | None, endpoint_id: str | None, since: object, undelivered_only: bool
) -> None:
    """Queue messages again with their original webhook-ids; the dispatcher sends them in order per case."""
    from datetime import UTC, datetime

    from payments.domain.errors import DomainError
    from payments.services.container import build_services

    if bool(message_id) == bool(endpoint_id and since):
        click.echo("payrecon: give either --message, or --endpoint with --since", err=True)
        sys.exit(2)
    settings = _settings()

    async def go() -> str:
        services = build_services(settings)
        try:
            if message_id:
                view = await services.webhooks.replay_message(None, message_id, actor="cli")
                return f"queued {view.id} ({view.event_type}) again"
            assert isinstance(since, datetime) and endpoint_id
            when = since if since.tzinfo else since.replace(tzinfo=UTC)
            n = await services.webhooks.replay_since(
                None, endpoint_id, since=when, only_undelivered=undelivered_only, actor="cli"
            )
            return f"queued {n} messages to {endpoint_id} again"
        finally:
            await services.aclose()

    try:
        click.echo(_run(go()))
    except DomainError as exc:
        click.echo(f"payrecon: {exc.detail}", err=True)
        sys.exit(1)


@main.group()
def staff() -> None:
    """Staff accounts of the finance review console (/console)."""


@staff.command("add")
@click.argument("username")
@click.option("--role", type=click.Choice(["clerk", "approver"]), required=True)
@click.option("--client", "client", help="Client id or name this user works for; default all clients.")
@click.option("--reveal", is_flag=True, help="May see debtors' and payers' personal data in full (audited).")
@click.option("--totp", is_flag=True, help="Require a TOTP code at login; prints the secret once.")
@click.option(
    "--password-file",
    type=click.Path(exists=True, dir_okay=False),
    help="Read the password from this file (first line) instead of prompting.",
)
def staff_add(
    username: str, role: str, client: str | None, reveal: bool, totp: bool, password_file: str | None
) -> None:
    """Create a console user. The password is stored only as a scrypt hash."""
    from pathlib import Path

    from sqlalchemy import or_, select

    from payments.domain.errors import DomainError
    from payments.persistence.tables import Client
    from payments.services.container import build_services
    from payments.services.staff import StaffRole, StaffService, totp_uri

    if password_file:
        lines = Path(password_file).read_text().splitlines()
        password = lines[0] if lines else ""
    else:
        password = click.prompt("Password", hide_input=True, confirmation_prompt=True)
    settings = _settings()

    async def go() -> tuple[str, str | None, str | None]:
        services = build_services(settings)
        try:
            client_id = None
            if client:
                async with services.db.sessions() as session:
                    client_id = await session.scalar(
                        select(Client.id)
                        .where(or_(Client.id == client, Client.name == client))
                        .order_by(Client.id)
                    )
                if client_id is None:
                    raise click.UsageError(f"no client {client!r}")
            accounts = StaffService(services.db, services.pii, settings.console, services.web_secret)
            user_id, secret = await accounts.create_user(
                username, password, StaffRole(role), client_id=client_id, can_reveal=reveal, totp=totp
            )
            return user_id, secret, client_id
        finally:
            await services.aclose()

    try:
        user_id, secret, client_id = _run(go())
    except DomainError as exc:
        click.echo(f"payrecon: {exc.detail}", err=True)
        sys.exit(1)
    click.echo(f"staff user {user_id}: {username.strip().lower()} ({role}, {client_id or 'all clients'})")
    if secret:
        click.echo(f"TOTP secret (shown once): {secret}")
        click.echo(f"otpauth URI: {totp_uri(secret, username.strip().lower())}")


def _staff_service(settings: Settings):  # type: ignore[no-untyped-def]
    from payments.services.container import build_services
    from payments.services.staff import StaffService

    services = build_services(settings)
    return services, StaffService(services.db, services.pii, settings.console, services.web_secret)


def _staff_change(username: str, what: str, change) -> object:  # type: ignore[no-untyped-def]
    from payments.domain.errors import DomainError

    settings = _settings()

    async def go() -> object:
        services, accounts = _staff_service(settings)
        try:
            return await change(accounts)
        finally:
            await services.aclose()

    try:
        result = _run(go())
    except DomainError as exc:
        click.echo(f"payrecon: {exc.detail}", err=True)
        sys.exit(1)
    click.echo(f"staff user {username}: {what}; open sessions ended")
    return result


@staff.command("disable")
@click.argument("username")
def staff_disable(username: str) -> None:
    """No more logins for USERNAME; open sessions end at once."""
    _staff_change(username, "disabled", lambda a: a.disable_user(username))


@staff.command("enable")
@click.argument("username")
def staff_enable(username: str) -> None:
    """Let a disabled USERNAME log in again."""
    _staff_change(username, "enabled", lambda a: a.enable_user(username))


@staff.command("reset-password")
@click.argument("username")
@click.option("--password-file", type=click.Path(exists=True, dir_okay=False), help="Read it from this file.")
def staff_reset_password(username: str, password_file: str | None) -> None:
    """Set a new password for USERNAME (also lifts a lockout)."""
    from pathlib import Path

    if password_file:
        lines = Path(password_file).read_text().splitlines()
        password = lines[0] if lines else ""
    else:
        password = click.prompt("New password", hide_input=True, confirmation_prompt=True)
    _staff_change(username, "password reset", lambda a: a.reset_password(username, password))


@staff.command("reset-totp")
@click.argument("username")
@click.option("--off", is_flag=True, help="Remove TOTP instead of issuing a new secret.")
def staff_reset_totp(username: str, off: bool) -> None:
    """Issue USERNAME a new TOTP secret (shown once), or remove TOTP with --off."""
    from payments.services.staff import totp_uri

    secret = _staff_change(
        username,
        "TOTP removed" if off else "new TOTP secret",
        lambda a: a.reset_totp(username, enable=not off),
    )
    if isinstance(secret, str):
        click.echo(f"TOTP secret (shown once): {secret}")
        click.echo(f"otpauth URI: {totp_uri(secret, username.strip().lower())}")


@main.group()
def keys() -> None:
    """Encryption keys for personal data."""


@keys.command("rotate")
@click.option("--batch-size", default=500, show_default=True)
@click.option("--resume", is_flag=True, help="Only re-encrypt rows still under old keys; add no new key.")
def keys_rotate(batch_size: int, resume: bool) -> None:
    """Add a new PII key, make it active, and re-encrypt every debtor under it in batches.

    Restartable: rows are picked by the key that encrypted them, so after a crash run it again
    with --resume and it carries on where it stopped.
    """
    from rich.progress import Progress

    from payments.security.pii import load_keyring, save_keyring
    from payments.services.container import build_services
    from payments.services.keys import count_stale_rows, reencrypt_batch

    settings = _settings()
    path = settings.pii_keyring_path
    keyring = load_keyring(path, create=False)
    if not resume:
        keyring = keyring.with_new_active_key()
        save_keyring(path, keyring)
        click.echo(f"new active key {keyring.active}; re-encrypting")

    async def go() -> int:
        services = build_services(settings)
        done = 0
        try:
            total = await count_stale_rows(services.db, services.pii)
            with Progress() as progress:
                task = progress.add_task("re-encrypting sealed rows", total=total)
                while n := await reencrypt_batch(services.db, services.pii, batch_size):
                    done += n
                    progress.update(task, advance=n)
        finally:
            await services.aclose()
        return done

    click.echo(
        f"re-encrypted {_run(go())} rows (debtors, bank lines, link tokens, webhook secrets) under {keyring.active}"
    )


if __name__ == "__main__":
    main()
