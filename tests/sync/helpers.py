"""Running the registry feed in tests, as the CLI and the API run it: one unit of work."""

from __future__ import annotations

import io
from collections.abc import Callable

from sqlalchemy import select

from libcard.context import ActorKind
from libcard.patrons.models import Patron
from libcard.sync.registry import FileFormat, read_rows
from libcard.sync.service import RunSummary, run_registry
from tests.conftest import World

PUBLIC_URL = "https://cards.nordby.example"
HEADER = "registry_id;first_name;last_name;birth_date;institutional_email;city;valid_until\n"


def csv_of(*rows: str) -> str:
    return HEADER + "".join(f"{row}\n" for row in rows)


async def run(
    world: World,
    body: str,
    *,
    full: bool = False,
    dry_run: bool = False,
    file_format: FileFormat = FileFormat.CSV,
    batch_size: int = 500,
    on_progress: Callable[[int], None] | None = None,
) -> RunSummary:
    actor = world.actor(ActorKind.REGISTRY)
    async with world.runtime.unit(actor) as ctx:
        return await run_registry(
            ctx,
            world.institution_id,
            read_rows(io.StringIO(body), file_format),
            full=full,
            dry_run=dry_run,
            public_url=PUBLIC_URL,
            batch_size=batch_size,
            on_progress=on_progress,
        )


async def student(world: World, registry_id: str) -> Patron | None:
    async with world.runtime.unit() as ctx:
        patron: Patron | None = await ctx.session.scalar(
            select(Patron).where(
                Patron.institution_id == world.institution_id, Patron.registry_id == registry_id
            )
        )
        return patron


async def count_students(world: World) -> int:
    async with world.runtime.unit() as ctx:
        return len(
            list(
                await ctx.session.scalars(select(Patron.id).where(Patron.registry_id.is_not(None)))
            )
        )
