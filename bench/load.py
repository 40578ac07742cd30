"""Bulk-load a benchmark database: N patrons, each with an active e-card and a PIN, and a
realistic share of fees and staff blocks.

The institution and its groups are made through the real services; the bulk of the rows goes
in with SQLAlchemy Core executemany in chunks, straight into the tables, which is orders of
magnitude faster than registering 100 000 patrons one by one.

    .venv/bin/python -m bench.load --backend sqlite --patrons 100000
    LIBCARD_BENCH_POSTGRES_URL=postgresql://postgres@127.0.0.1:5432/postgres \\
        .venv/bin/python -m bench.load --backend postgres --keep

PostgreSQL runs against the server in LIBCARD_BENCH_POSTGRES_URL (or, failing that,
LIBCARD_TEST_POSTGRES_URL); the database `libcard_bench` on it is dropped and made afresh.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import shutil
import tempfile
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Any, cast

from sqlalchemy import Table, func, insert, select, text, update
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncConnection

from libcard.blocks.models import StoredBlock
from libcard.cards.models import Card, PinCredential
from libcard.cards.pin import PIN
from libcard.cards.rules import CardKind, CardState, make_card_number
from libcard.config import Settings
from libcard.db import create_engine
from libcard.fees.models import Fee, FeeAction
from libcard.fees.rules import ActionKind, FeeType
from libcard.kit.secrets import hash_password
from libcard.migrate import upgrade_async
from libcard.patrons.models import Patron
from libcard.policy.models import Institution
from libcard.policy.rules import BlockCode
from libcard.policy.service import create_group, create_institution
from libcard.runtime import Runtime

# A fixed key for benchmark databases only; never use it for real patrons' PINs.
BENCH_PEPPERS = {1: "be" * 32}
BENCH_DATABASE = "libcard_bench"
POSTGRES_ENV = ("LIBCARD_BENCH_POSTGRES_URL", "LIBCARD_TEST_POSTGRES_URL")

INSTITUTION_CODE = "bench"
CARD_PREFIX = "2770"
CHUNK = 5_000
GROUPS: tuple[tuple[str, dict[str, Any]], ...] = (
    ("student", {}),
    ("employee", {}),
    ("external", {"card_replacement_fee_minor": 5000}),
)
# Every tenth patron: five students, two employees, three externals.
GROUP_BY_DIGIT = ["student"] * 5 + ["employee"] * 2 + ["external"] * 3
SHARE_FEES = 0.10  # a couple of fees below the fee-block threshold
SHARE_OVER_THRESHOLD = 0.02  # fees at or over the threshold: a fee_threshold block
SHARE_STAFF_BLOCK = 0.01  # a staff block placed at the desk


def postgres_server_url() -> str | None:
    for name in POSTGRES_ENV:
        value = os.environ.get(name)
        if value:
            return value
    return None


def async_url(url: str) -> str:
    """The async-driver form of a URL, as libcard's settings would make it."""
    return Settings(database_url=url).database_url


def bench_settings(database_url: str, pepper_file: Path) -> Settings:
    return Settings(
        database_url=database_url,
        peppers=BENCH_PEPPERS,
        pepper_file=pepper_file,
    )


@dataclass
class Target:
    """A fresh, migrated database for one backend, and what it takes to remove it again."""

    backend: str
    url: str  # async-driver URL
    workdir: Path  # a temp dir: the SQLite file, the (unused) pepper file
    admin_url: str | None = None  # PostgreSQL: where CREATE/DROP DATABASE is run

    @property
    def pepper_file(self) -> Path:
        return self.workdir / "unused-secrets.json"

    def settings(self) -> Settings:
        return bench_settings(self.url, self.pepper_file)


async def _pg_admin(admin_url: str, sql: str) -> None:
    engine = create_engine(admin_url, pool=False)
    try:
        async with engine.connect() as conn:
            conn = await conn.execution_options(isolation_level="AUTOCOMMIT")
            await conn.execute(text(sql))
    finally:
        await engine.dispose()


async def prepare(backend: str, database: str = BENCH_DATABASE) -> Target:
    """Make an empty database for `backend` (on PostgreSQL named `database`) and migrate it to
    the current schema."""
    workdir = Path(tempfile.mkdtemp(prefix=f"libcard-bench-{backend}-"))
    if backend == "sqlite":
        target = Target("sqlite", f"sqlite+aiosqlite:///{workdir / 'bench.sqlite3'}", workdir)
    elif backend == "postgres":
        server = postgres_server_url()
        if server is None:
            shutil.rmtree(workdir, ignore_errors=True)
            raise RuntimeError(f"PostgreSQL needs {' or '.join(POSTGRES_ENV)}")
        admin_url = async_url(server)
        url = make_url(admin_url).set(database=database)
        target = Target(
            "postgres", url.render_as_string(hide_password=False), workdir, admin_url=admin_url
        )
        await _pg_admin(admin_url, f'DROP DATABASE IF EXISTS "{database}" WITH (FORCE)')
        await _pg_admin(admin_url, f'CREATE DATABASE "{database}"')
    else:
        raise ValueError(f"unknown backend {backend!r}")
    await upgrade_async(target.url)
    return target


async def discard(target: Target, *, keep: bool = False) -> None:
    """Drop the database and remove the temp dir; with `keep`, leave the database for a look
    (on SQLite the database is a file in the temp dir, which then stays too)."""
    if keep:
        print(f"[{target.backend}] database kept: {target.url}", flush=True)
        if target.backend == "sqlite":
            return
    elif target.admin_url is not None:
        database = make_url(target.url).database
        await _pg_admin(target.admin_url, f'DROP DATABASE IF EXISTS "{database}" WITH (FORCE)')
    shutil.rmtree(target.workdir, ignore_errors=True)


@dataclass
class Loaded:
    """What the benchmark needs to know of a loaded database."""

    institution_id: int
    card_prefix: str
    card_number_length: int
    first_serial: int
    patrons: int
    rows: dict[str, int] = field(default_factory=dict)
    seconds: float = 0.0

    def card_number(self, index: int) -> str:
        """The e-card number of the `index`-th loaded patron (0-based)."""
        return make_card_number(
            self.card_prefix, self.first_serial + index, self.card_number_length
        )

    def pin(self, index: int) -> str:
        """The PIN of the `index`-th loaded patron."""
        return pin_of(index)

    @property
    def total_rows(self) -> int:
        return sum(self.rows.values())


def pin_of(index: int) -> str:
    # Known to the load generators (SIP2 sends the PIN), spread over all 10 000 PINs.
    return f"{(index * 7919 + 1234) % 10_000:04d}"


def _chunks(
    rows: Sequence[dict[str, Any]], size: int = CHUNK
) -> Iterator[Sequence[dict[str, Any]]]:
    for start in range(0, len(rows), size):
        yield rows[start : start + size]


async def _insert(conn: AsyncConnection, table: Table, rows: Sequence[dict[str, Any]]) -> None:
    for chunk in _chunks(rows):
        await conn.execute(insert(table), list(chunk))


async def _next_id(conn: AsyncConnection, table: Table) -> int:
    return int(await conn.scalar(select(func.coalesce(func.max(table.c.id), 0))) or 0) + 1


async def load(runtime: Runtime, patrons: int = 100_000, *, seed: int = 1) -> Loaded:
    """Create the institution and groups through the services, then bulk-load the patrons."""
    started = time.perf_counter()
    rng = random.Random(seed)
    async with runtime.unit() as ctx:
        institution = await create_institution(
            ctx,
            code=INSTITUTION_CODE,
            name="Benchmark Library",
            card_prefix=CARD_PREFIX,
            currency="DKK",
        )
        group_ids = {}
        for code, extra in GROUPS:
            made = await create_group(ctx, institution.id, code=code, name=code.title(), **extra)
            group_ids[code] = made.id
        institution_id = institution.id
        prefix, length = institution.card_prefix, institution.card_number_length
        first_serial = institution.next_card_serial
        threshold = institution.fee_block_threshold_minor
    password_hash = await hash_password("Reading-Room-42")  # one hash shared by every patron
    keyring = runtime.keyring
    now = runtime.clock.now()
    # Parents before children: rows go in in this order.
    tables: dict[str, Table] = {
        model.__tablename__: cast(Table, model.__table__)
        for model in (Patron, Card, PinCredential, Fee, FeeAction, StoredBlock)
    }
    async with runtime.engine.begin() as conn:
        patron_id = await _next_id(conn, tables["patron"])
        card_id = await _next_id(conn, tables["card"])
        fee_id = await _next_id(conn, tables["fee"])
        rows: dict[str, list[dict[str, Any]]] = {name: [] for name in tables}
        for index in range(patrons):
            pid, cid = patron_id + index, card_id + index
            group_code = GROUP_BY_DIGIT[index % 10]
            created = now - timedelta(days=rng.randrange(1, 3650), seconds=rng.randrange(86400))
            rows["patron"].append(
                {
                    "id": pid,
                    "institution_id": institution_id,
                    "group_id": group_ids[group_code],
                    "registry_id": f"S{pid:08d}" if group_code == "student" else None,
                    "identity_id": f"E{pid:08d}" if group_code == "employee" else None,
                    "first_name": rng.choice(FIRST_NAMES),
                    "last_name": rng.choice(LAST_NAMES),
                    "birth_date": None,
                    "email": f"patron{pid}@example.org" if group_code == "external" else None,
                    "institutional_email": (
                        f"p{pid}@uni.example.org" if group_code != "external" else None
                    ),
                    "phone": None,
                    "street": None,
                    "postal_code": None,
                    "city": None,
                    "country": "DK",
                    "preferred_language": rng.choice((None, None, "da", "en", "de")),
                    "password_hash": password_hash,
                    "password_changed_at": created,
                    "activated_at": created,
                    "expires_at": None,
                    "closed_at": None,
                    "created_at": created,
                    "updated_at": created,
                }
            )
            rows["card"].append(
                {
                    "id": cid,
                    "institution_id": institution_id,
                    "patron_id": pid,
                    "kind": CardKind.ECARD.value,
                    "number": make_card_number(prefix, first_serial + index, length),
                    "number_digest": None,
                    "state": CardState.ACTIVE.value,
                    "issued_at": created,
                    "activated_at": created,
                    "state_changed_at": created,
                    "expires_at": None,
                    "replaces_card_id": None,
                }
            )
            rows["pin_credential"].append(
                {
                    "patron_id": pid,
                    "digest": keyring.digest(PIN, pin_of(index)),
                    "changed_at": created,
                    "wrong_in_a_row": 0,
                    "last_wrong_at": None,
                    "locked_at": None,
                    "unlocked_at": None,
                    "unlocked_by": None,
                    "unlock_photo_id_kind": None,
                }
            )
            draw = rng.random()
            if draw < SHARE_OVER_THRESHOLD:
                amounts = [threshold // 2 + 1000, threshold // 2 + rng.randrange(500, 5000)]
            elif draw < SHARE_OVER_THRESHOLD + SHARE_FEES:
                amounts = [rng.randrange(500, 5000, 50), rng.randrange(500, 5000, 50)]
            else:
                amounts = []
            for number, amount in enumerate(amounts):
                charged = now - timedelta(days=rng.randrange(1, 300), minutes=number)
                rows["fee"].append(
                    {
                        "id": fee_id,
                        "institution_id": institution_id,
                        "patron_id": pid,
                        "type": FeeType.OVERDUE.value,
                        "amount_minor": amount,
                        "currency": "DKK",
                        "description": "Overdue: 3 items",
                        "card_id": None,
                        "item_barcode": f"{rng.randrange(10**9):09d}",
                        "created_at": charged,
                    }
                )
                if number == 0 and draw >= SHARE_OVER_THRESHOLD and rng.random() < 1 / 3:
                    rows["fee_action"].append(
                        {
                            "fee_id": fee_id,
                            "patron_id": pid,
                            "kind": ActionKind.WAIVER.value,
                            "amount_minor": amount // 2,
                            "payment_id": None,
                            "reason": "Goodwill",
                            "actor_label": "bench desk",
                            "created_at": charged + timedelta(days=1),
                        }
                    )
                fee_id += 1
            if rng.random() < SHARE_STAFF_BLOCK:
                rows["block"].append(
                    {
                        "institution_id": institution_id,
                        "patron_id": pid,
                        "code": BlockCode.STAFF.value,
                        "reason": "Damaged items not yet discussed at the desk",
                        "card_id": None,
                        "created_at": created + timedelta(days=1),
                        "ends_at": None,
                        "placed_by": "bench desk",
                        "lifted_at": None,
                        "lifted_by": None,
                        "lift_note": None,
                        "photo_id_kind": None,
                    }
                )
        for name, table in tables.items():
            await _insert(conn, table, rows[name])
        # The real service issues the next e-card number after the loaded ones.
        await conn.execute(
            update(Institution)
            .where(Institution.id == institution_id)
            .values(next_card_serial=first_serial + patrons)
        )
        if conn.dialect.name == "postgresql":
            # Explicit ids leave the SERIAL sequences behind; move them past the loaded rows.
            for name in ("patron", "card", "fee", "fee_action", "block"):
                table = tables[name]
                after = select(func.coalesce(func.max(table.c.id), 0) + 1).scalar_subquery()
                sequence = func.pg_get_serial_sequence(name, "id")
                await conn.execute(select(func.setval(sequence, after, False)))
    # Fresh statistics, as a production database would have them.
    async with runtime.engine.connect() as conn:
        if conn.dialect.name == "postgresql":
            conn = await conn.execution_options(isolation_level="AUTOCOMMIT")
            await conn.execute(text("ANALYZE"))
        else:
            await conn.execute(text("ANALYZE"))
            await conn.commit()
    return Loaded(
        institution_id=institution_id,
        card_prefix=prefix,
        card_number_length=length,
        first_serial=first_serial,
        patrons=patrons,
        rows={name: len(r) for name, r in rows.items()},
        seconds=time.perf_counter() - started,
    )


FIRST_NAMES = (
    "Karen", "Mads", "Sofie", "Emil", "Ida", "Lukas", "Freja", "Noah", "Anna", "Oliver",
    "Clara", "William", "Ella", "Victor", "Laura", "Magnus", "Maja", "Jonas", "Alma", "Oscar",
)  # fmt: skip
LAST_NAMES = (
    "Holm", "Jensen", "Nielsen", "Hansen", "Pedersen", "Andersen", "Christensen", "Larsen",
    "Sørensen", "Rasmussen", "Jørgensen", "Petersen", "Madsen", "Kristensen", "Olsen", "Thomsen",
)  # fmt: skip


def describe(loaded: Loaded, backend: str) -> str:
    rate = loaded.total_rows / loaded.seconds if loaded.seconds else 0.0
    parts = ", ".join(f"{name} {count:,}" for name, count in loaded.rows.items())
    return (
        f"[{backend}] loaded {loaded.patrons:,} patrons in {loaded.seconds:.1f} s: "
        f"{loaded.total_rows:,} rows ({parts}), {rate:,.0f} rows/s, "
        f"{loaded.patrons / loaded.seconds:,.0f} patrons/s"
    )


async def _main(args: argparse.Namespace) -> None:
    backends = ["sqlite", "postgres"] if args.backend == "both" else [args.backend]
    for backend in backends:
        if backend == "postgres" and postgres_server_url() is None:
            print(f"[postgres] not run: set {' or '.join(POSTGRES_ENV)}", flush=True)
            continue
        target = await prepare(backend)
        runtime = Runtime.build(target.settings())
        try:
            loaded = await load(runtime, args.patrons, seed=args.seed)
            print(describe(loaded, backend), flush=True)
        finally:
            await runtime.close()
            await discard(target, keep=args.keep)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--backend", choices=["sqlite", "postgres", "both"], default="both")
    parser.add_argument("--patrons", type=int, default=100_000)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--keep", action="store_true", help="Keep the database afterwards.")
    asyncio.run(_main(parser.parse_args()))


if __name__ == "__main__":
    main()
