"""The `libcard` command: serve, db upgrade, token create, staff create, demo."""

from __future__ import annotations

import asyncio
import json
import logging
import sys
from collections.abc import Awaitable, Callable
from typing import Annotated, Any, cast

import typer
from rich.console import Console
from rich.table import Table
from sqlalchemy import select

from libcard import cli_collection, cli_jobs, cli_sync
from libcard import demo as demo_data
from libcard.access.scopes import ALL_SCOPES, Scope
from libcard.access.service import create_token
from libcard.config import get_settings
from libcard.context import ActorKind, Ctx
from libcard.errors import LibcardError, NotFound
from libcard.migrate import upgrade
from libcard.policy.branches import list_branches
from libcard.policy.models import Institution
from libcard.runtime import Runtime
from libcard.staff.models import StaffUser
from libcard.staff.roles import StaffRole
from libcard.staff.service import create_staff, reset_second_factor

app = typer.Typer(help="libcard: library cards and patron accounts.", no_args_is_help=True)
db_app = typer.Typer(help="The database schema.", no_args_is_help=True)
token_app = typer.Typer(help="API tokens.", no_args_is_help=True)
staff_app = typer.Typer(help="Staff users of the lending desk.", no_args_is_help=True)
app.add_typer(db_app, name="db")
app.add_typer(token_app, name="token")
app.add_typer(staff_app, name="staff")
cli_jobs.register(app)
cli_collection.register(app)
cli_sync.register(app)
console = Console(stderr=True)


@db_app.command("upgrade")
def db_upgrade() -> None:
    """Apply every migration to the configured database."""
    settings = get_settings()
    upgrade(settings.database_url)
    console.print("[green]Database schema is up to date.[/green]")


@app.command()
def serve(
    demo: Annotated[bool, typer.Option("--demo", help="Load the demo institution.")] = False,
    host: Annotated[str | None, typer.Option(help="Address to listen on.")] = None,
    port: Annotated[int | None, typer.Option(help="HTTP port (default 8000).")] = None,
    sip2_port: Annotated[
        int | None, typer.Option("--sip2-port", help="SIP2 port (default 6001).")
    ] = None,
    sip2: Annotated[
        bool, typer.Option("--sip2/--no-sip2", help="Serve SIP2 for self-checkout machines.")
    ] = True,
) -> None:
    """Run libcard: migrations first, then the HTTP API, the pages and the SIP2 server."""
    from libcard.serving import serve_all

    settings = get_settings()
    logging.basicConfig(
        level=settings.log_level, format="%(asctime)s %(levelname)s %(name)s %(message)s"
    )
    upgrade(settings.database_url)
    runtime = Runtime.build(settings)
    if demo:
        summary = asyncio.run(_load_demo(runtime))
        _print_demo(summary)
        runtime = Runtime.build(settings)  # a fresh engine for the server's own event loop
    bind_host, bind_port = host or settings.http_host, port or settings.http_port
    with_sip2 = sip2 and settings.sip2_enabled
    chosen_sip2 = sip2_port if sip2_port is not None else settings.sip2_port
    console.print(
        f"libcard listening on http://{bind_host}:{bind_port}  "
        "(patron portal: /login, desk: /desk, API: /api/v1/docs)"
        + (f"; SIP2 on {settings.sip2_host}:{chosen_sip2}" if with_sip2 else "")
    )
    asyncio.run(
        serve_all(
            runtime,
            settings,
            host=bind_host,
            port=bind_port,
            sip2_port=chosen_sip2 if with_sip2 else None,
        )
    )


async def _load_demo(runtime: Runtime) -> dict[str, object]:
    try:
        await demo_data.load(runtime)
        return await demo_data.describe(runtime)
    finally:
        await runtime.close()


def _print_demo(summary: dict[str, object]) -> None:
    table = Table(title="Demo patrons (password for all: " + str(summary["password_for_all"]) + ")")
    for column in ("who", "group", "card", "e-card", "PIN", "state", "blocks"):
        # Card numbers are to be copied: never cut or wrapped, even in a narrow log.
        table.add_column(column, no_wrap=column in ("card", "e-card", "PIN"))
    for patron in summary["patrons"]:  # type: ignore[attr-defined]
        table.add_row(
            patron["name"],
            patron["group"],
            patron["card_number"],
            patron["ecard_number"],
            patron["pin"] or f"code {patron['activation_code']}",
            patron["expected_state"],
            ", ".join(patron["block_codes"]),
        )
    wide = console if console.is_terminal else Console(stderr=True, width=160)
    wide.print(table)
    console.print(f"API token with every scope: [bold]{summary['api_token']}[/bold]")
    staff = Table(
        title="Desk staff on /desk/login (password for all: " + str(summary["staff_password"]) + ")"
    )
    for column in ("user name", "name", "role", "authenticator key"):
        staff.add_column(column, no_wrap=column in ("user name", "authenticator key"))
    for user in summary["staff"]:  # type: ignore[attr-defined]
        staff.add_row(user["username"], user["name"], user["role"], user["totp_secret"])
    wide.print(staff)
    console.print("Add the key to an authenticator app for the six-digit code the desk asks for.")
    sip2 = cast(dict[str, Any], summary["sip2"])
    items = cast(list[str], summary["items_to_check_out"])
    console.print(
        f"Self-checkout (SIP2, {sip2['encoding']}): login [bold]{sip2['login']}[/bold], "
        f"password [bold]{sip2['password']}[/bold], institution (AO) {sip2['institution_id']}; "
        f"items to check out: {', '.join(items)}"
    )


@app.command()
def demo(
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON for scripts.")] = False,
) -> None:
    """Load the demo if needed and print its patrons, logins and a fresh API token."""
    settings = get_settings()
    upgrade(settings.database_url)
    summary = asyncio.run(_load_demo(Runtime.build(settings)))
    if as_json:
        typer.echo(json.dumps(summary, indent=2, ensure_ascii=False))
    else:
        _print_demo(summary)


@token_app.command("create")
def token_create(
    name: Annotated[str, typer.Option(help="Who or what uses the token.")],
    actor: Annotated[
        ActorKind, typer.Option(help="The actor the token acts as.")
    ] = ActorKind.ADMIN,
    scope: Annotated[
        list[Scope] | None, typer.Option(help="A scope; repeat. Default: all.")
    ] = None,
    institution: Annotated[str | None, typer.Option(help="Institution code; none = all.")] = None,
    patron_id: Annotated[int | None, typer.Option(help="Limit the token to one patron.")] = None,
    valid_days: Annotated[int | None, typer.Option(help="Expire after this many days.")] = None,
) -> None:
    """Make an API token and print its secret (shown this once)."""
    settings = get_settings()
    upgrade(settings.database_url)

    async def run() -> str:
        runtime = Runtime.build(settings)
        try:
            async with runtime.unit() as ctx:
                institution_id = None
                if institution is not None:
                    institution_id = await ctx.session.scalar(
                        select(Institution.id).where(Institution.code == institution)
                    )
                    if institution_id is None:
                        raise typer.BadParameter(f"No institution with code {institution!r}.")
                _, secret = await create_token(
                    ctx,
                    name=name,
                    actor_kind=actor,
                    scopes=scope or ALL_SCOPES,
                    institution_id=institution_id,
                    patron_id=patron_id,
                    valid_days=valid_days,
                )
                return secret
        finally:
            await runtime.close()

    typer.echo(asyncio.run(run()))


def _run_as_system(work: Callable[[Ctx], Awaitable[str]]) -> str:
    """One unit of work as libcard itself; a refusal becomes a clear message and exit code 1."""
    settings = get_settings()
    upgrade(settings.database_url)

    async def run() -> str:
        runtime = Runtime.build(settings)
        try:
            async with runtime.unit() as ctx:
                return await work(ctx)
        finally:
            await runtime.close()

    try:
        return asyncio.run(run())
    except LibcardError as error:
        console.print(f"[red]{error.message}[/red]")
        raise typer.Exit(1) from None


async def _institution_id(ctx: Ctx, code: str) -> int:
    found = await ctx.session.scalar(select(Institution.id).where(Institution.code == code))
    if found is None:
        raise NotFound("institution_not_found", f"No institution with code {code!r}.")
    return found


@staff_app.command("create")
def staff_create(
    institution: Annotated[str, typer.Option(help="The institution's code.")],
    username: Annotated[str, typer.Option(help="The login name.")],
    name: Annotated[str, typer.Option(help="The person's name, as shown at the desk.")],
    role: Annotated[StaffRole, typer.Option(help="What the user may do.")] = StaffRole.ADMIN,
    branch: Annotated[str | None, typer.Option(help="The branch's code, if any.")] = None,
    email: Annotated[str | None, typer.Option(help="E-mail address.")] = None,
    password_stdin: Annotated[
        bool, typer.Option("--password-stdin", help="Read the password from standard input.")
    ] = False,
) -> None:
    """Create a staff user, e.g. the institution's first administrator. The password is asked
    for (never given on the command line); the authenticator app is set up at first login."""
    if password_stdin:
        password = sys.stdin.readline().rstrip("\n")
    else:
        password = typer.prompt("Password", hide_input=True, confirmation_prompt=True)

    async def work(ctx: Ctx) -> str:
        institution_id = await _institution_id(ctx, institution)
        branch_id = None
        if branch is not None:
            branches = await list_branches(ctx, institution_id)
            branch_id = next((b.id for b in branches if b.code == branch), None)
            if branch_id is None:
                raise NotFound("branch_not_found", f"No branch with code {branch!r}.")
        staff = await create_staff(
            ctx,
            institution_id,
            username=username,
            display_name=name,
            role=role.value,
            password=password,
            branch_id=branch_id,
            email=email,
        )
        return staff.username

    created = _run_as_system(work)
    console.print(
        f"[green]Staff user {created!r} created.[/green] At the first login on /desk/login "
        "they set up an authenticator app."
    )


@staff_app.command("reset-second-factor")
def staff_reset_second_factor(
    username: Annotated[str, typer.Argument(help="The login name.")],
) -> None:
    """For a lost phone when no administrator can log in: the user sets up a new
    authenticator app at their next login."""

    async def work(ctx: Ctx) -> str:
        staff = await ctx.session.scalar(
            select(StaffUser).where(StaffUser.username == username.strip().lower())
        )
        if staff is None:
            raise NotFound("staff_not_found", f"No staff user {username!r}.")
        await reset_second_factor(ctx, staff.id)
        return staff.username

    _run_as_system(work)
    console.print(f"[green]{username}: the authenticator is set up anew at the next login.[/green]")


if __name__ == "__main__":
    app()
