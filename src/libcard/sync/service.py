"""Applying a registry run: students created, updated, marked missing and expired.

A run is one transaction, the caller's unit of work: everything it changes commits together
or not at all, so a crash (the process killed, the database gone) leaves no half-applied run
and the same file run again does all of it. A broken row is refused with its line and reason
before anything of it is written, and stops nothing else. `dry_run` applies the whole run in
a savepoint and rolls it back: the report is exactly what the run would do.

Memory does not grow with the file: rows arrive as a stream, are handled in batches (one
query for the batch's patrons, one for the e-mail addresses it names), and the session is
emptied after each batch. The registry ids seen so far, which a full export needs at the end
and duplicates need at once, are kept in a temporary table, not in the process.

New students are created in bulk, each with what `accounts.register_patron` gives a patron
(the same rows: the patron, an e-card numbered from the institution's counter, an activation
code mailed to the institutional e-mail, their audit events), because one call per student
costs some twenty round trips and a registry sends tens of thousands at once. For the same
reason the activation mail is rendered once per batch and language (`notify.forms`), and rows
nobody needs the ids of go in by COPY on PostgreSQL.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, cast

from sqlalchemy import Table, and_, bindparam, insert, or_, select, text, update
from sqlalchemy.sql import column as sql_column
from sqlalchemy.sql import table as sql_table

from libcard.audit.models import AuditEvent
from libcard.audit.service import record
from libcard.cards.models import Card
from libcard.cards.rules import CardKind, CardState, make_card_number
from libcard.context import ActorKind, Ctx
from libcard.errors import Forbidden, InvalidInput, LibcardError
from libcard.notify.models import OutboundMail
from libcard.patrons.models import Patron, SecretToken
from libcard.policy.models import Institution
from libcard.policy.rules import Policy
from libcard.policy.service import get_institution, group_by_code, policy_for_group
from libcard.sync.bulk import ActivationMail, insert_rows
from libcard.sync.registry import RawRow
from libcard.sync.rows import activation_rows, audit_row, write_events
from libcard.sync.rules import (
    PERSONAL_COLUMNS,
    STUDENT_GROUP,
    StudentRow,
    changes_for,
    expiry_of,
    owned_values,
    parse_row,
    registry_id_of,
)

BATCH_SIZE = 500
# A report lists this many refused rows; the count is always complete.
MAX_LISTED_REFUSALS = 1000
RUNNERS = frozenset({ActorKind.REGISTRY, ActorKind.SYSTEM})
SEEN = "registry_seen"
# Bulk rows go in through the tables: the ORM's bulk insert costs as much again per row in
# Python, for objects a run never uses.
_PATRON = cast(Table, Patron.__table__)
_CARD = cast(Table, Card.__table__)
_TOKEN = cast(Table, SecretToken.__table__)
_MAIL = cast(Table, OutboundMail.__table__)
_AUDIT = cast(Table, AuditEvent.__table__)
_SEEN = sql_table(SEEN, sql_column("registry_id"), sql_column("line"))


@dataclass(frozen=True)
class Refusal:
    line: int
    code: str
    message: str


@dataclass
class RunSummary:
    """What a run did (or, dry, would do). Line numbers count a CSV header as line 1."""

    full: bool
    dry_run: bool
    rows: int = 0
    created: int = 0
    updated: int = 0
    unchanged: int = 0
    returned: int = 0  # of the updated: missing before, in the file again
    missing: int = 0  # newly missing from a full export
    expired: int = 0
    refused_count: int = 0
    refused: list[Refusal] = field(default_factory=list)

    @property
    def changes(self) -> int:
        return self.created + self.updated + self.missing + self.expired

    def refuse(self, line: int, error: LibcardError) -> None:
        self.refused_count += 1
        if len(self.refused) < MAX_LISTED_REFUSALS:
            self.refused.append(Refusal(line, error.code, error.message))


Progress = Callable[[int], None]


@dataclass
class Run:
    """What a run reads once and keeps: plain values, since the session is emptied after
    every batch."""

    ctx: Ctx
    institution_id: int
    institution_name: str
    timezone: str
    default_language: str
    activation_days: int
    grace_days: int
    student_group_id: int
    public_url: str | None
    summary: RunSummary
    policies: dict[int, Policy] = field(default_factory=dict)
    events: list[dict[str, Any]] = field(default_factory=list)  # audit rows not yet written


async def run_registry(
    ctx: Ctx,
    institution_id: int,
    rows: Iterable[RawRow],
    *,
    full: bool = False,
    dry_run: bool = False,
    public_url: str | None = None,
    batch_size: int = BATCH_SIZE,
    on_progress: Progress | None = None,
) -> RunSummary:
    """Apply the registry's rows to the institution's students, in the caller's transaction.
    `public_url` (where patrons reach libcard) is needed for the activation mail's link."""
    if ctx.actor.kind not in RUNNERS or not ctx.actor.may_see_institution(institution_id):
        raise Forbidden("forbidden_registry", "Only the student registry may run this feed.")
    if batch_size < 1:
        raise InvalidInput("batch_size", "A batch holds at least one row.")
    institution = await get_institution(ctx, institution_id)
    group = await group_by_code(ctx, institution_id, STUDENT_GROUP)
    run = Run(
        ctx,
        institution_id,
        institution.name,
        institution.timezone,
        institution.default_language,
        institution.activation_code_days,
        institution.registry_grace_days,
        group.id,
        public_url,
        RunSummary(full=full, dry_run=dry_run),
    )
    savepoint = await ctx.session.begin_nested() if dry_run else None
    try:
        await _start_seen(ctx)
        analyzed = BATCH_SIZE // 2
        postgres = (await ctx.session.connection()).dialect.name == "postgresql"
        for batch in _batches(rows, batch_size):
            await _apply_batch(run, batch)
            if postgres and run.summary.created >= 2 * analyzed:
                # The planner's idea of the patron table is from before the run: grown tenfold
                # in this transaction, a lookup by id list would scan it whole. ANALYZE counts
                # this transaction's own new rows; doubling keeps it to a dozen per run.
                analyzed = run.summary.created
                await ctx.session.execute(text("ANALYZE patron"))
            ctx.session.expunge_all()  # constant memory: nothing of a batch stays
            if on_progress is not None:
                on_progress(run.summary.rows)
        if full:
            await _mark_missing(run)
            await _expire_missing(run)
        if run.summary.changes and not dry_run:
            s = run.summary
            await record(
                ctx,
                "registry:run",
                "institution",
                institution_id,
                institution_id=institution_id,
                full=full,
                rows=s.rows,
                created=s.created,
                updated=s.updated,
                missing=s.missing,
                expired=s.expired,
                refused=s.refused_count,
            )
    finally:
        if savepoint is not None and savepoint.is_active:
            await savepoint.rollback()
    return run.summary


def _batches(rows: Iterable[RawRow], size: int) -> Iterator[list[RawRow]]:
    batch: list[RawRow] = []
    for row in rows:
        batch.append(row)
        if len(batch) >= size:
            yield batch
            batch = []
    if batch:
        yield batch


async def _start_seen(ctx: Ctx) -> None:
    """The registry ids of this run, with the line each was first on. A temporary table is
    the connection's own; on PostgreSQL it goes with the transaction."""
    dialect = (await ctx.session.connection()).dialect.name
    on_commit = " ON COMMIT DROP" if dialect == "postgresql" else ""
    await ctx.session.execute(
        text(
            f"CREATE TEMPORARY TABLE IF NOT EXISTS {SEEN} "
            f"(registry_id VARCHAR(64) PRIMARY KEY, line INTEGER NOT NULL){on_commit}"
        )
    )
    await ctx.session.execute(text(f"DELETE FROM {SEEN}"))  # noqa: S608 — a constant name


async def _apply_batch(run: Run, batch: list[RawRow]) -> None:
    ctx, summary = run.ctx, run.summary
    summary.rows += len(batch)
    checked: list[StudentRow] = []
    firsts: dict[str, int] = {}  # registry id → its line, for this batch's new ids
    earlier = await _seen_before(ctx, {rid for r in batch if (rid := registry_id_of(r.columns))})
    for raw in batch:
        rid = None if raw.error else registry_id_of(raw.columns)
        if rid is not None:
            first = earlier.get(rid, firsts.get(rid))
            if first is not None:
                summary.refuse(
                    raw.line,
                    InvalidInput(
                        "duplicate_registry_id",
                        f"The registry_id {rid!r} appears already on line {first}.",
                    ),
                )
                continue
            firsts[rid] = raw.line
        if raw.error is not None:
            summary.refuse(raw.line, raw.error)
            continue
        try:
            checked.append(parse_row(raw.line, raw.columns))
        except LibcardError as error:
            summary.refuse(raw.line, error)
    if firsts:
        await insert_rows(
            ctx.session,
            _SEEN,
            [{"registry_id": rid, "line": line} for rid, line in firsts.items()],
        )
    if not checked:
        return
    patrons = {
        p.registry_id: p
        for p in await ctx.session.scalars(
            select(Patron).where(
                Patron.institution_id == run.institution_id,
                Patron.registry_id.in_([row.registry_id for row in checked]),
            )
        )
    }
    holders = await _address_holders(run, checked)
    claimed: dict[str, int] = {}  # address → line, within this batch
    created: list[Student] = []
    now = ctx.clock.now()
    for row in checked:
        patron = patrons.get(row.registry_id)
        policy = await _policy(run, patron.group_id if patron else run.student_group_id)
        wanted = owned_values(row, policy.field_owners)
        try:
            _check_address(wanted, patron, holders, claimed, row.line)
            if patron is None:
                created.append(_new_patron(run, row, wanted, now))
            else:
                await _update(run, patron, row, wanted, now)
        except LibcardError as error:
            summary.refuse(row.line, error)
    await ctx.session.flush()  # the updates, before the new rows may take an address freed
    if created:
        await _create(run, created, now)
    await write_events(run)


async def _seen_before(ctx: Ctx, registry_ids: set[str]) -> dict[str, int]:
    if not registry_ids:
        return {}
    found = await ctx.session.execute(
        text(f"SELECT registry_id, line FROM {SEEN} WHERE registry_id IN :ids").bindparams(  # noqa: S608
            bindparam("ids", expanding=True)
        ),
        {"ids": sorted(registry_ids)},
    )
    return {rid: line for rid, line in found}


async def _policy(run: Run, group_id: int) -> Policy:
    if group_id not in run.policies:
        _, _, run.policies[group_id] = await policy_for_group(run.ctx, group_id)
    return run.policies[group_id]


async def _address_holders(run: Run, rows: list[StudentRow]) -> dict[str, set[int]]:
    """Which patrons hold each e-mail address the batch names, privately or institutionally."""
    addresses = {
        address for row in rows if (address := row.values.get("institutional_email")) is not None
    }
    if not addresses:
        return {}
    holders: dict[str, set[int]] = {}
    found = await run.ctx.session.execute(
        select(Patron.id, Patron.email, Patron.institutional_email).where(
            Patron.institution_id == run.institution_id,
            or_(Patron.email.in_(addresses), Patron.institutional_email.in_(addresses)),
        )
    )
    for patron_id, email, institutional in found:
        for address in (email, institutional):
            if address is not None and address in addresses:
                holders.setdefault(address, set()).add(patron_id)
    return holders


def _check_address(
    wanted: dict[str, Any],
    patron: Patron | None,
    holders: dict[str, set[int]],
    claimed: dict[str, int],
    line: int,
) -> None:
    """An institutional e-mail another patron holds (or an earlier row of this batch claims)
    refuses the row. An address moving between two students in one batch is refused too; the
    next run, with the old holder changed, applies it."""
    address = wanted.get("institutional_email")
    if address is None:
        return
    others = holders.get(address, set()) - ({patron.id} if patron else set())
    if others or address in claimed:
        raise InvalidInput("email_in_use", "Another account of this library uses this e-mail.")
    claimed[address] = line


def _new_patron(run: Run, row: StudentRow, wanted: dict[str, Any], now: datetime) -> Student:
    for required in ("first_name", "last_name"):
        if not wanted.get(required):
            raise InvalidInput("field_required", f"{required} is needed for a new student.")
    values = {column: wanted.get(column) for column in PERSONAL_COLUMNS}
    return Student(
        {
            "institution_id": run.institution_id,
            "group_id": run.student_group_id,
            "registry_id": row.registry_id,
            "expires_at": expiry_of(row.valid_until, run.timezone),
            "registry_missing_since": None,
            "created_at": now,
            "updated_at": now,
            **values,
        }
    )


@dataclass
class Student:
    """A new student's row, and (for the mail) the attributes `notify.recipient` reads."""

    values: dict[str, Any]
    id: int = 0
    email: str | None = None
    preferred_language: str | None = None

    @property
    def first_name(self) -> str:
        return str(self.values["first_name"])

    @property
    def last_name(self) -> str:
        return str(self.values["last_name"])

    @property
    def institutional_email(self) -> str | None:
        address = self.values["institutional_email"]
        return None if address is None else str(address)


async def _update(
    run: Run, patron: Patron, row: StudentRow, wanted: dict[str, Any], now: datetime
) -> None:
    summary = run.summary
    for required in ("first_name", "last_name"):
        if required in wanted and not wanted[required]:
            raise InvalidInput("field_required", f"{required} cannot be empty.")
    current = {column: getattr(patron, column) for column in wanted}
    changes = changes_for(current, wanted)
    expires_at = expiry_of(row.valid_until, run.timezone)
    if patron.expires_at != expires_at:
        changes["expires_at"] = expires_at
    returned = patron.registry_missing_since is not None
    if not changes and not returned:
        summary.unchanged += 1
        return
    for column, value in changes.items():
        setattr(patron, column, value)
    patron.registry_missing_since = None
    patron.updated_at = now
    summary.updated += 1
    summary.returned += int(returned)
    run.events.append(
        audit_row(run, now, "patron:update", patron.id, fields=sorted(changes), returned=returned)
    )


async def _create(run: Run, created: list[Student], now: datetime) -> None:
    """The batch's new students, each with an e-card and (with an institutional e-mail) an
    activation code mailed to it: the rows `accounts.register_patron` writes, in bulk
    (multi-row INSERTs; the ORM would write these one row at a time to learn each id)."""
    session = run.ctx.session
    inserted = await session.execute(
        insert(_PATRON).returning(_PATRON.c.id, _PATRON.c.registry_id),
        [student.values for student in created],
    )
    ids = {registry_id: patron_id for patron_id, registry_id in inserted}
    for student in created:
        student.id = ids[student.values["registry_id"]]
    # One counter update for the batch: the same lock and the same numbers, n at a time.
    result = await session.execute(
        update(Institution)
        .where(Institution.id == run.institution_id)
        .values(next_card_serial=Institution.next_card_serial + len(created))
        .returning(
            Institution.next_card_serial, Institution.card_prefix, Institution.card_number_length
        )
    )
    end, prefix, length = result.one()
    first_serial = end - len(created)
    numbers = {
        student.id: make_card_number(prefix, first_serial + index, length)
        for index, student in enumerate(created)
    }
    cards = await session.execute(
        insert(_CARD).returning(_CARD.c.id, _CARD.c.patron_id),
        [
            {
                "institution_id": run.institution_id,
                "patron_id": student.id,
                "kind": CardKind.ECARD.value,
                "number": numbers[student.id],
                "number_digest": None,
                "state": CardState.NOT_ACTIVATED.value,
                "issued_at": now,
                "activated_at": None,
                "state_changed_at": now,
                "expires_at": None,
                "replaces_card_id": None,
            }
            for student in created
        ],
    )
    card_ids = {patron_id: card_id for card_id, patron_id in cards}
    code_expiry = now + timedelta(days=run.activation_days)
    mail = None if run.public_url is None else ActivationMail(run.public_url, code_expiry)
    tokens: list[dict[str, Any]] = []
    mails: list[dict[str, Any]] = []
    for student in created:
        run.events.append(audit_row(run, now, "patron:create", student.id, group=STUDENT_GROUP))
        run.events.append(
            audit_row(
                run,
                now,
                "card:issue",
                student.id,
                "card",
                card_ids[student.id],
                kind="ecard",
                replaces=None,
            )
        )
        activation = activation_rows(run, mail, student, numbers[student.id], now, code_expiry)
        if activation is not None:
            tokens.append(activation[0])
            mails.append(activation[1])
            run.events.append(activation[2])
    if tokens:
        await insert_rows(run.ctx.session, _TOKEN, tokens)
        await insert_rows(run.ctx.session, _MAIL, mails)
    run.summary.created += len(created)


def _not_seen() -> Any:
    return text(
        f"NOT EXISTS (SELECT 1 FROM {SEEN} WHERE {SEEN}.registry_id = patron.registry_id)"  # noqa: S608
    )


async def _mark_missing(run: Run) -> None:
    """Students of the institution that the full export lacks are marked missing, once."""
    now = run.ctx.clock.now()
    where = and_(
        Patron.institution_id == run.institution_id,
        Patron.registry_id.is_not(None),
        Patron.registry_missing_since.is_(None),
        _not_seen(),
    )
    await _in_chunks(run, where, {"registry_missing_since": now}, "patron:registry_missing")


async def _expire_missing(run: Run) -> None:
    """Missing past the grace period: the account expires (every card is refused with it).
    Nothing is deleted, so debt and open loans stay on the account as they were."""
    now = run.ctx.clock.now()
    # grace_ended(since, days, now) in SQL: since + days <= now.
    cutoff = now - timedelta(days=run.grace_days)
    where = and_(
        Patron.institution_id == run.institution_id,
        Patron.registry_id.is_not(None),
        Patron.registry_missing_since.is_not(None),
        Patron.registry_missing_since <= cutoff,
        or_(Patron.expires_at.is_(None), Patron.expires_at > now),
        _not_seen(),
    )
    await _in_chunks(run, where, {"expires_at": now}, "patron:expire")


async def _in_chunks(run: Run, where: Any, values: dict[str, Any], action: str) -> None:
    ctx, now = run.ctx, run.ctx.clock.now()
    while True:
        ids = list(
            await ctx.session.scalars(
                select(Patron.id).where(where).order_by(Patron.id).limit(BATCH_SIZE)
            )
        )
        if not ids:
            return
        await ctx.session.execute(
            update(Patron)
            .where(Patron.id.in_(ids))
            .values(updated_at=now, **values)
            .execution_options(synchronize_session=False)
        )
        run.events = [audit_row(run, now, action, pid, reason="registry_missing") for pid in ids]
        await write_events(run)
        if action == "patron:expire":
            run.summary.expired += len(ids)
        else:
            run.summary.missing += len(ids)
