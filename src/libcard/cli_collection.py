"""`libcard collection export`: the file of new cases for a collection agency."""

from __future__ import annotations

import asyncio
import os
import sys
import tempfile
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

from libcard.collection.export import ExportBatch, take_for_export, write_csv
from libcard.config import get_settings
from libcard.errors import LibcardError
from libcard.migrate import upgrade
from libcard.runtime import Runtime

console = Console(stderr=True)
collection_app = typer.Typer(help="Debt handed to collection agencies.", no_args_is_help=True)


def register(app: typer.Typer) -> None:
    app.add_typer(collection_app, name="collection")


@collection_app.command("export")
def export(
    agency: Annotated[
        str, typer.Option("--agency", help="The agency, named as in the institution's settings.")
    ],
    out: Annotated[
        Path | None, typer.Option("--out", help="Write the CSV here (default: standard output).")
    ] = None,
) -> None:
    """Write the agency's handed-over cases not exported before as CSV, and mark them
    exported. Run it again and only newer cases come; see docs/collection.md for the columns."""
    settings = get_settings()
    upgrade(settings.database_url)
    try:
        cases, lines = asyncio.run(_export(Runtime.build(settings), agency, out))
    except LibcardError as error:
        console.print(f"[red]{error.message}[/red]")
        raise typer.Exit(1) from None
    where = str(out) if out else "standard output"
    console.print(f"{cases} case(s), {lines} line(s) for {agency.strip()} written to {where}.")


async def _export(runtime: Runtime, agency: str, out: Path | None) -> tuple[int, int]:
    """The cases are marked and the file written in one unit of work: the file is complete
    on disk before the marks commit, so a failed write leaves every case for the next run."""
    try:
        async with runtime.unit() as ctx:
            batch = await take_for_export(ctx, agency)
            if out is None:
                lines = write_csv(batch, sys.stdout)
                sys.stdout.flush()
            else:
                lines = _write_file(out, batch)
        return len(batch.cases), lines
    finally:
        await runtime.close()


def _write_file(out: Path, batch: ExportBatch) -> int:
    directory = out.resolve().parent
    if not directory.is_dir():
        raise typer.BadParameter(f"There is no directory {directory}.")
    # Beside the target, then renamed: a reader never sees half a file.
    handle, temporary = tempfile.mkstemp(dir=directory, prefix=f".{out.name}.", suffix=".tmp")
    try:
        with os.fdopen(handle, "w", encoding="utf-8", newline="") as stream:
            lines = write_csv(batch, stream)
        os.chmod(temporary, 0o600)  # names and addresses: for the operator's eyes only
        os.replace(temporary, out)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise
    return lines
