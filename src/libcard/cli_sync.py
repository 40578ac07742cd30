"""`libcard sync registry FILE`: the student registry's export applied to the students."""

from __future__ import annotations

import asyncio
import io
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.progress import BarColumn, Progress, TaskProgressColumn, TextColumn, TimeElapsedColumn
from rich.table import Table
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from libcard.config import get_settings
from libcard.context import Actor, ActorKind
from libcard.errors import LibcardError, NotFound
from libcard.migrate import upgrade
from libcard.policy.models import Institution
from libcard.runtime import Runtime
from libcard.sync.registry import FileFormat, read_rows
from libcard.sync.service import RunSummary, run_registry

console = Console(stderr=True)
sync_app = typer.Typer(help="Feeds from the systems that own personal data.", no_args_is_help=True)


def register(app: typer.Typer) -> None:
    app.add_typer(sync_app, name="sync")


@sync_app.command("registry")
def registry(
    file: Annotated[Path, typer.Argument(help="The registry's export, CSV or JSON Lines.")],
    file_format: Annotated[
        FileFormat | None,
        typer.Option("--format", help="csv or jsonl; by default from the file's extension."),
    ] = None,
    full: Annotated[
        bool,
        typer.Option(
            "--full", help="The file is the whole registry: students not in it go missing."
        ),
    ] = False,
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="Report what would change; change nothing.")
    ] = False,
    institution: Annotated[
        str | None,
        typer.Option("--institution", help="The institution's code; needed if there are several."),
    ] = None,
) -> None:
    """Create, update and (with --full) expire students from the registry's file. See
    docs/registry.md for the columns. The run commits whole or not at all."""
    if not file.is_file():
        raise typer.BadParameter(f"There is no file {file}.")
    chosen = file_format or (
        FileFormat.JSONL if file.suffix.lower() in (".jsonl", ".ndjson") else FileFormat.CSV
    )
    settings = get_settings()
    upgrade(settings.database_url)
    try:
        summary = asyncio.run(
            _run(Runtime.build(settings), file, chosen, full, dry_run, institution)
        )
    except LibcardError as error:
        console.print(f"[red]{error.message}[/red]")
        raise typer.Exit(1) from None
    except UnicodeDecodeError:
        console.print("[red]The file is not UTF-8 text; nothing was changed.[/red]")
        raise typer.Exit(1) from None
    _print(summary)


async def _run(
    runtime: Runtime,
    file: Path,
    file_format: FileFormat,
    full: bool,
    dry_run: bool,
    code: str | None,
) -> RunSummary:
    size = file.stat().st_size  # noqa: ASYNC240 — once, before the run
    try:
        async with runtime.unit() as ctx:
            institution_id = await _institution_id(ctx.session, code)
        actor = Actor(ActorKind.REGISTRY, "registry file", institution_id=institution_id)
        columns = (
            TextColumn("{task.description}"),
            BarColumn(),
            TaskProgressColumn(),
            TimeElapsedColumn(),
        )
        with (
            file.open("rb") as raw,
            io.TextIOWrapper(raw, encoding="utf-8-sig", newline="") as stream,
            Progress(*columns, console=console, transient=True) as progress,
        ):
            task = progress.add_task("Registry rows", total=size)

            def advance(_rows: int) -> None:
                progress.update(task, completed=raw.tell())

            async with runtime.unit(actor) as ctx:
                return await run_registry(
                    ctx,
                    institution_id,
                    read_rows(stream, file_format),
                    full=full,
                    dry_run=dry_run,
                    public_url=runtime.settings.public_url,
                    on_progress=advance,
                )
    finally:
        await runtime.close()


async def _institution_id(session: AsyncSession, code: str | None) -> int:
    query = select(Institution.id, Institution.code)
    if code is not None:
        query = query.where(Institution.code == code)
    found = list((await session.execute(query.limit(2))).all())
    if not found:
        raise NotFound("institution_not_found", f"No institution with code {code!r}.")
    if len(found) > 1:
        raise NotFound("institution_required", "Several institutions: name one (--institution).")
    return found[0][0]


def _print(summary: RunSummary) -> None:
    title = "Registry run (dry run: nothing changed)" if summary.dry_run else "Registry run"
    table = Table(title=title)
    table.add_column("")
    table.add_column("students", justify="right")
    for label, value in (
        ("rows read", summary.rows),
        ("created", summary.created),
        ("updated", summary.updated),
        ("of them back in the registry", summary.returned),
        ("unchanged", summary.unchanged),
        ("newly missing", summary.missing),
        ("expired", summary.expired),
        ("refused", summary.refused_count),
    ):
        table.add_row(label, str(value))
    console.print(table)
    for refusal in summary.refused:
        console.print(f"line {refusal.line}: {refusal.code}: {refusal.message}", markup=False)
    if summary.refused_count > len(summary.refused):
        console.print(f"… and {summary.refused_count - len(summary.refused)} more refused rows.")
    console.print(f"{summary.changes} change(s).")
