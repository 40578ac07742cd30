"""Test fixtures: every database test runs on SQLite and, when LIBCARD_TEST_POSTGRES_URL is
set (CI sets it), on PostgreSQL too. Each test starts on an empty migrated database — a copy
of a migrated file on SQLite, an emptied per-process database on PostgreSQL — so tests own
their data and never depend on each other's order."""

from __future__ import annotations

import asyncio
import os
import shutil
import uuid
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import text
from sqlalchemy.engine import make_url

from libcard.config import Settings
from libcard.context import Actor, ActorKind, Ctx
from libcard.db import create_engine
from libcard.kit.clock import FrozenClock
from libcard.kit.secrets import configure_password_hashing
from libcard.migrate import upgrade
from libcard.models import Base
from libcard.runtime import Runtime

POSTGRES_URL = os.environ.get("LIBCARD_TEST_POSTGRES_URL")
BACKENDS = ["sqlite", "postgres"] if POSTGRES_URL else ["sqlite"]
TEST_KEYS = {1: "11" * 32}

# Argon2id stays the algorithm; a cheap cost keeps hundreds of activations quick.
configure_password_hashing(time_cost=1, memory_kib=1024)


@pytest.hookimpl(tryfirst=True)
def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Under pytest-xdist (`--dist loadgroup`, as scripts/test runs it), the tests that share
    one expensive server stay on one worker: the browser tests share a `libcard serve`, an
    identity broker and Chromium for their package, tests/test_cli.py a served demo. First,
    because xdist reads the groups in its own hook: marked after it, they would be ignored and
    each worker would start every server again."""
    for item in items:
        parts = item.path.parts
        if "e2e" in parts:
            item.add_marker(pytest.mark.xdist_group("e2e"))
        elif item.path.name == "test_cli.py":
            item.add_marker(pytest.mark.xdist_group("cli"))


def _async_pg(url: str) -> str:
    return "postgresql+asyncpg://" + url.split("://", 1)[1]


def _worker() -> str:
    return os.environ.get("PYTEST_XDIST_WORKER", "main")


@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("template") / "template.sqlite3"
    upgrade(f"sqlite+aiosqlite:///{path}")
    return path


async def _pg_admin(sql: str) -> None:
    assert POSTGRES_URL is not None
    engine = create_engine(_async_pg(POSTGRES_URL), pool=False)
    async with engine.connect() as conn:
        await conn.execution_options(isolation_level="AUTOCOMMIT")
        await conn.execute(text(sql))
    await engine.dispose()


def _pg_url_for(name: str) -> str:
    assert POSTGRES_URL is not None
    return (
        make_url(_async_pg(POSTGRES_URL)).set(database=name).render_as_string(hide_password=False)
    )


@pytest.fixture(scope="session")
def postgres_database() -> Iterator[str | None]:
    """One migrated PostgreSQL database per test process, emptied before each test."""
    if POSTGRES_URL is None:
        yield None
        return
    name = f"libcard_test_{_worker()}_{uuid.uuid4().hex[:8]}"
    asyncio.run(_pg_admin(f'CREATE DATABASE "{name}"'))
    # A test database need not survive a crash of the server: commits need not wait for the
    # disk, which is most of what a test's many small transactions would wait for.
    asyncio.run(_pg_admin(f'ALTER DATABASE "{name}" SET synchronous_commit = off'))
    upgrade(_pg_url_for(name))
    yield name
    asyncio.run(_pg_admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


async def _empty(url: str) -> None:
    """Every table emptied and every id sequence back at 1, in one round trip.

    DELETE with triggers off (`session_replication_role = replica`: the audit log's rows
    refuse DELETE by design, and foreign keys need no order then) is far quicker on tables of
    a few rows than TRUNCATE, which makes new files for every table and syncs them."""
    tables = [t.name for t in Base.metadata.sorted_tables]
    statements = ["SET LOCAL session_replication_role = replica"]
    statements += [f'DELETE FROM "{name}"' for name in tables]  # noqa: S608 — our own table names
    statements.append(
        "SELECT setval(c.oid, 1, false) FROM pg_class c "
        "JOIN pg_namespace n ON n.oid = c.relnamespace "
        "WHERE c.relkind = 'S' AND n.nspname = current_schema()"
    )
    engine = create_engine(url, pool=False)
    async with engine.begin() as conn:
        raw = await conn.get_raw_connection()
        # asyncpg runs a parameterless script as one simple query: one round trip.
        await raw.driver_connection.execute(";\n".join(statements))
    await engine.dispose()


@pytest.fixture(params=BACKENDS)
def database_url(
    request: pytest.FixtureRequest,
    tmp_path: Path,
    sqlite_template: Path,
    postgres_database: str | None,
) -> Iterator[str]:
    """A migrated database holding nothing, for one test."""
    if request.param == "sqlite":
        path = tmp_path / "libcard.sqlite3"
        shutil.copyfile(sqlite_template, path)
        yield f"sqlite+aiosqlite:///{path}"
        return
    assert postgres_database is not None
    url = _pg_url_for(postgres_database)
    asyncio.run(_empty(url))
    yield url


@pytest.fixture
def clock() -> FrozenClock:
    return FrozenClock()


@pytest.fixture
async def runtime(database_url: str, clock: FrozenClock, tmp_path: Path) -> AsyncIterator[Runtime]:
    settings = Settings(
        database_url=database_url,
        peppers=TEST_KEYS,  # type: ignore[arg-type]
        pepper_file=tmp_path / "unused-secrets.json",
    )
    rt = Runtime.build(settings, clock=clock)
    yield rt
    await rt.close()


@pytest.fixture
def backend(database_url: str) -> str:
    return "postgres" if database_url.startswith("postgresql") else "sqlite"


ADMIN = Actor(kind=ActorKind.ADMIN, label="test admin")
DESK = Actor(kind=ActorKind.DESK, label="test desk")
REGISTRY = Actor(kind=ActorKind.REGISTRY, label="test registry")
IDENTITY = Actor(kind=ActorKind.IDENTITY_PORTAL, label="test identity portal")
TERMINAL = Actor(kind=ActorKind.TERMINAL, label="test terminal")


@dataclass
class World:
    """One institution with the three usual groups; helpers make patrons in known states."""

    runtime: Runtime
    institution_id: int
    groups: dict[str, int]

    def actor(self, kind: ActorKind, **kw: Any) -> Actor:
        return Actor(
            kind=kind, label=f"test {kind.value}", institution_id=self.institution_id, **kw
        )

    async def patron(
        self,
        group: str = "external",
        *,
        activate: bool = True,
        pin: str = "2580",
        password: str = "Reading-Room-42",
        physical: bool = False,
        **fields: Any,
    ) -> PatronHandle:
        from libcard.accounts.service import register_patron
        from libcard.cards.activation import activate as activate_account
        from libcard.cards.rules import CardKind
        from libcard.cards.service import issue_card
        from libcard.patrons.credentials import issue_activation_code

        fields.setdefault("first_name", "Karen")
        fields.setdefault("last_name", f"Holm{uuid.uuid4().hex[:6]}")
        if group == "external":
            fields.setdefault("email", f"{uuid.uuid4().hex[:10]}@example.org")
        async with self.runtime.unit() as ctx:
            registration = await register_patron(ctx, self.institution_id, group, fields)
            physical_number = None
            if physical:
                card = await issue_card(ctx, registration.patron.id, CardKind.PHYSICAL)
                physical_number = card.number
            code = None
            _, code = await issue_activation_code(ctx, registration.patron.id, "letter")
            if activate:
                assert registration.ecard.number is not None
                await activate_account(ctx, registration.ecard.number, code, password, pin)
                code = None
            assert registration.ecard.number is not None
            return PatronHandle(
                id=registration.patron.id,
                ecard=registration.ecard.number,
                physical=physical_number,
                pin=pin,
                password=password,
                activation_code=code,
            )


@dataclass
class PatronHandle:
    id: int
    ecard: str
    physical: str | None
    pin: str
    password: str
    activation_code: str | None


@pytest.fixture
async def world(runtime: Runtime) -> World:
    from libcard.policy.service import create_group, create_institution

    async with runtime.unit() as ctx:
        institution = await create_institution(
            ctx, code="nordby", name="Nordby Library", card_prefix="2770", currency="DKK"
        )
        groups = {}
        for code, extra in (
            ("student", {}),
            ("employee", {}),
            ("external", {"card_replacement_fee_minor": 5000}),
        ):
            group = await create_group(ctx, institution.id, code=code, name=code.title(), **extra)
            groups[code] = group.id
        return World(runtime=runtime, institution_id=institution.id, groups=groups)


def as_ctx(ctx: Ctx, actor: Actor) -> Ctx:
    return ctx.as_actor(actor)
