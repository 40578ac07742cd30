"""The migrations make exactly the schema the models describe, on SQLite and PostgreSQL, and
go down to nothing and up again: a model changed without its migration (or the reverse)
would otherwise show only on an operator's upgrade."""

from __future__ import annotations

import asyncio
from typing import Any

from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import Connection, inspect

import libcard.models  # noqa: F401 — every model registered on Base.metadata
from libcard.db import Base, create_engine
from libcard.migrate import alembic_config, upgrade_async


def _differences(connection: Connection) -> list[Any]:
    context = MigrationContext.configure(
        connection, opts={"compare_type": True, "compare_server_default": False}
    )
    return list(compare_metadata(context, Base.metadata))


async def test_the_migrated_schema_is_the_models_schema(database_url: str) -> None:
    engine = create_engine(database_url, pool=False)
    try:
        async with engine.connect() as conn:
            differences = await conn.run_sync(_differences)
    finally:
        await engine.dispose()
    assert differences == []


async def test_downgrade_to_nothing_and_upgrade_again(database_url: str) -> None:
    await asyncio.to_thread(command.downgrade, alembic_config(database_url), "base")
    engine = create_engine(database_url, pool=False)
    try:
        async with engine.connect() as conn:
            left = await conn.run_sync(lambda sync: inspect(sync).get_table_names())
        assert set(left) <= {"alembic_version"}
        await upgrade_async(database_url)
        async with engine.connect() as conn:
            differences = await conn.run_sync(_differences)
    finally:
        await engine.dispose()
    assert differences == []
