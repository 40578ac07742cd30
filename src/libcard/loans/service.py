"""Items and loans: create and import items, check out, check in and renew.

Who may lend: the staff kinds, self-checkout terminals and libcard itself. A patron may renew
their own loans and nothing else; for a patron, someone else's loan answers exactly like no
loan at all (404), so loans cannot be probed. Every refusal is raised before anything is
written, so a refused call changes nothing.

Concurrency: a checkout locks the patron row (so that racing checkouts count loans one after
another, like the fee ledger) and then the item row; a checkin or renewal locks the open loan.
The database keeps one open loan per item with a partial unique index besides.
"""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import bindparam, func, select

from libcard.accounts.service import card_status
from libcard.audit.service import record, record_on
from libcard.blocks.rules import Block
from libcard.blocks.service import blocks_of
from libcard.blocks.texts import describe
from libcard.cards.service import find_card
from libcard.cards.texts import REFUSALS
from libcard.context import STAFF_KINDS, ActorKind, Ctx
from libcard.errors import Conflict, Forbidden, InvalidInput, LibcardError, NotFound, RuleViolation
from libcard.fees.service import MAX_AMOUNT_MINOR
from libcard.kit.money import parse_amount
from libcard.loans.fines import settle_at_checkin
from libcard.loans.models import Item, Loan
from libcard.loans.rules import (
    due_at,
    may_borrow_more,
    may_renew,
    normalise_decimal,
    parse_flag,
    renewed_due_at,
)
from libcard.patrons.service import get_patron, get_patron_for_update
from libcard.policy.models import Branch, Institution
from libcard.policy.rules import Action, Policy
from libcard.policy.service import get_institution, policy_for_group

# Who lends: the desk, self-checkout machines and libcard itself (jobs, the demo).
LENDERS = STAFF_KINDS | {ActorKind.TERMINAL, ActorKind.SYSTEM}
# Who keeps the item records: the desk and administrators, and libcard itself (imports).
ITEM_KEEPERS = STAFF_KINDS | {ActorKind.SYSTEM}

# Letters, digits, dot, dash, underscore: never SIP2's field separator "|" or spaces.
BARCODE = re.compile(r"[A-Za-z0-9._-]{1,64}")
TITLE_LENGTH = 500
CSV_COLUMNS = ("barcode", "title", "branch_code", "replacement_cost", "loanable")
CSV_MAX_ROWS = 50_000


# Items


def _require(ctx: Ctx, kinds: frozenset[ActorKind], code: str, message: str) -> None:
    if ctx.actor.kind not in kinds:
        raise Forbidden(code, message)


def _barcode(text: str) -> str:
    barcode = text.strip()
    if not BARCODE.fullmatch(barcode):
        raise InvalidInput(
            "item_barcode",
            "An item barcode has 1–64 characters: letters, digits, dot, dash or underscore.",
        )
    return barcode


def _title(text: str) -> str:
    title = " ".join(text.split())
    if not 1 <= len(title) <= TITLE_LENGTH:
        raise InvalidInput(
            "item_title", f"Give the item a title of at most {TITLE_LENGTH} characters."
        )
    return title


def _cost(minor: int) -> int:
    # The replacement invoice is a fee: the fee ledger's limit is the item's limit too.
    if not 0 <= minor <= MAX_AMOUNT_MINOR:
        raise InvalidInput(
            "item_replacement_cost",
            "A replacement cost is at least 0 and at most "
            f"{MAX_AMOUNT_MINOR // 100:,} in the currency's main unit.",
        )
    return minor


async def _branch_of(ctx: Ctx, institution_id: int, branch_id: int) -> Branch:
    branch = await ctx.session.get(Branch, branch_id)
    if branch is None or branch.institution_id != institution_id:
        raise NotFound("branch_not_found", f"No branch with id {branch_id} in this institution.")
    return branch


async def _branches_by_code(ctx: Ctx, institution_id: int) -> dict[str, Branch]:
    rows = await ctx.session.scalars(select(Branch).where(Branch.institution_id == institution_id))
    return {branch.code.lower(): branch for branch in rows}


async def create_item(
    ctx: Ctx,
    institution_id: int,
    *,
    barcode: str,
    title: str,
    branch_id: int,
    replacement_cost_minor: int,
    loanable: bool = True,
) -> Item:
    _require(ctx, ITEM_KEEPERS, "forbidden_item", "Only library staff may add items.")
    await get_institution(ctx, institution_id)
    code = _barcode(barcode)
    values = {
        "title": _title(title),
        "branch_id": (await _branch_of(ctx, institution_id, branch_id)).id,
        "replacement_cost_minor": _cost(replacement_cost_minor),
        "loanable": loanable,
    }
    if await _item(ctx, institution_id, code) is not None:
        raise Conflict("item_exists", f"An item with the barcode {code!r} exists already.")
    return await _insert(ctx, institution_id, code, values)


async def update_item(
    ctx: Ctx,
    item_id: int,
    *,
    title: str | None = None,
    branch_id: int | None = None,
    replacement_cost_minor: int | None = None,
    loanable: bool | None = None,
) -> Item:
    """Change what is given; None leaves a field as it is. The barcode identifies the copy
    and is not changed."""
    _require(ctx, ITEM_KEEPERS, "forbidden_item", "Only library staff may change items.")
    item = await ctx.session.get(Item, item_id)
    if item is None or not ctx.actor.may_see_institution(item.institution_id):
        raise NotFound("item_not_found", f"No item with id {item_id}.")
    values: dict[str, Any] = {}
    if title is not None:
        values["title"] = _title(title)
    if branch_id is not None:
        values["branch_id"] = (await _branch_of(ctx, item.institution_id, branch_id)).id
    if replacement_cost_minor is not None:
        values["replacement_cost_minor"] = _cost(replacement_cost_minor)
    if loanable is not None:
        values["loanable"] = loanable
    await _apply(ctx, item, values)
    return item


async def _insert(ctx: Ctx, institution_id: int, barcode: str, values: dict[str, Any]) -> Item:
    now = ctx.clock.now()
    item = Item(
        institution_id=institution_id, barcode=barcode, created_at=now, updated_at=now, **values
    )
    ctx.session.add(item)
    await ctx.session.flush()
    await record_on(ctx, "item:create", item, barcode=barcode)
    return item


async def _apply(ctx: Ctx, item: Item, values: dict[str, Any]) -> bool:
    changed = sorted(key for key, value in values.items() if getattr(item, key) != value)
    if not changed:
        return False
    for key in changed:
        setattr(item, key, values[key])
    item.updated_at = ctx.clock.now()
    await record_on(ctx, "item:update", item, barcode=item.barcode, fields=changed)
    return True


async def _item(ctx: Ctx, institution_id: int, barcode: str, *, lock: bool = False) -> Item | None:
    query = select(Item).where(Item.institution_id == institution_id, Item.barcode == barcode)
    if lock:
        query = query.with_for_update()
    return await ctx.session.scalar(query)


async def get_item_by_barcode(ctx: Ctx, barcode: str, *, institution_id: int | None = None) -> Item:
    """The item with this barcode in the given institution, else the actor's. An actor of
    every institution (libcard itself) may leave it out while the barcode is unambiguous."""
    code = barcode.strip()
    institution_id = institution_id if institution_id is not None else ctx.actor.institution_id
    query = select(Item).where(Item.barcode == code)
    if institution_id is not None:
        if not ctx.actor.may_see_institution(institution_id):
            raise NotFound("item_not_found", f"No item with the barcode {code!r}.")
        query = query.where(Item.institution_id == institution_id)
    items = list((await ctx.session.scalars(query.limit(2))).all())
    if not items:
        raise NotFound("item_not_found", f"No item with the barcode {code!r}.")
    if len(items) > 1:
        raise InvalidInput(
            "institution_required",
            f"Several institutions have an item with the barcode {code!r}; name the institution.",
        )
    return items[0]


@dataclass
class ImportReport:
    """What an import did. Line numbers count the header as line 1."""

    created: int = 0
    updated: int = 0
    unchanged: int = 0
    errors: list[tuple[int, str, str]] = field(default_factory=list)


def _reader(text: str) -> csv.DictReader[str]:
    body = text.lstrip("\ufeff")
    first = body.splitlines()[0] if body.strip() else ""
    # Spreadsheets in Danish write ";" (the comma is the decimal mark); others write ",".
    delimiter = max((";", ",", "\t"), key=first.count)
    reader = csv.DictReader(io.StringIO(body), delimiter=delimiter)
    header = [name.strip().lower() for name in (reader.fieldnames or [])]
    missing = [name for name in CSV_COLUMNS if name not in header]
    if missing:
        raise InvalidInput(
            "csv_header",
            f"The first line must name the columns {', '.join(CSV_COLUMNS)}; "
            f"missing: {', '.join(missing)}.",
        )
    reader.fieldnames = header
    return reader


def _csv_cost(text: str, currency: str) -> int:
    value = normalise_decimal(text)
    if not value:
        raise InvalidInput(
            "invalid_amount",
            f"Write the replacement cost as an amount like 120,00 or 120.00, not {text!r}.",
        )
    return _cost(parse_amount(value, currency))


def _csv_flag(text: str) -> bool:
    flag = parse_flag(text)
    if flag is None:
        raise InvalidInput(
            "item_loanable", f"Write loanable as yes or no (or true/false, 1/0), not {text!r}."
        )
    return flag


async def import_items_csv(ctx: Ctx, institution_id: int, text: str) -> ImportReport:
    """Create or update items from CSV text with the columns barcode, title, branch_code,
    replacement_cost (major units: 120,00 or 120.00) and loanable (yes/no). A broken row is
    reported with its line and skipped; the others are applied. Importing the same file
    again changes nothing."""
    _require(ctx, ITEM_KEEPERS, "forbidden_item", "Only library staff may import items.")
    institution = await get_institution(ctx, institution_id)
    reader = _reader(text)
    branches = await _branches_by_code(ctx, institution_id)
    report = ImportReport()
    seen: dict[str, int] = {}
    rows = 0
    for row in reader:
        line = reader.line_num
        rows += 1
        if rows > CSV_MAX_ROWS:
            report.errors.append(
                (line, "csv_too_long", f"Import at most {CSV_MAX_ROWS} rows at a time.")
            )
            break
        if not any((value or "").strip() for value in row.values() if isinstance(value, str)):
            continue  # a blank line
        try:
            barcode, values = _csv_row(row, institution, branches)
            if barcode in seen:
                raise InvalidInput(
                    "duplicate_barcode",
                    f"The barcode {barcode!r} appears already on line {seen[barcode]}.",
                )
        except LibcardError as error:
            report.errors.append((line, error.code, error.message))
            continue
        seen[barcode] = line
        item = await _item(ctx, institution_id, barcode)
        if item is None:
            await _insert(ctx, institution_id, barcode, values)
            report.created += 1
        elif await _apply(ctx, item, values):
            report.updated += 1
        else:
            report.unchanged += 1
    if report.created or report.updated:
        await record(
            ctx,
            "item:import",
            "institution",
            institution_id,
            institution_id=institution_id,
            created=report.created,
            updated=report.updated,
            errors=len(report.errors),
        )
    return report


def _csv_row(
    row: dict[str, Any], institution: Institution, branches: dict[str, Branch]
) -> tuple[str, dict[str, Any]]:
    if None in row or any(row.get(name) is None for name in CSV_COLUMNS):
        raise InvalidInput(
            "csv_columns", f"A row needs exactly the columns {', '.join(CSV_COLUMNS)}."
        )
    barcode = _barcode(row["barcode"])
    title = _title(row["title"])
    branch_code = row["branch_code"].strip()
    branch = branches.get(branch_code.lower())
    if branch is None:
        raise InvalidInput("branch_not_found", f"No branch with the code {branch_code!r}.")
    values = {
        "title": title,
        "branch_id": branch.id,
        "replacement_cost_minor": _csv_cost(row["replacement_cost"], institution.currency),
        "loanable": _csv_flag(row["loanable"]),
    }
    return barcode, values


# Loans


def _stopping(blocks: Iterable[Block], action: Action) -> list[Block]:
    return [block for block in blocks if action in block.effects]


def _blocked(blocks: list[Block], policy: Policy, timezone: str, what: str) -> RuleViolation:
    first = describe(blocks[0], policy, "en", timezone)
    return RuleViolation(
        "blocked",
        f"This account may not {what} now: {first.title}. {first.lift}".strip(),
        block=blocks[0].code.value,
        blocks=[block.code.value for block in blocks],
    )


async def _open_loan(ctx: Ctx, item_id: int, *, lock: bool = False) -> Loan | None:
    query = select(Loan).where(Loan.item_id == item_id, Loan.returned_at.is_(None))
    if lock:
        query = query.with_for_update()
    return await ctx.session.scalar(query)


async def _open_loans(ctx: Ctx, patron_id: int) -> int:
    count = await ctx.session.scalar(
        select(func.count())
        .select_from(Loan)
        .where(Loan.patron_id == patron_id, Loan.returned_at.is_(None))
    )
    return int(count or 0)


async def checkout(ctx: Ctx, card_number: str, item_barcode: str) -> Loan:
    """Lend the item to the card's holder, due at the end of the local day `loan_days` on."""
    _require(ctx, LENDERS, "forbidden_loan", "You may not lend items.")
    card = await find_card(ctx, card_number)
    # Lock first, then decide: a fee or payment racing this checkout locks the same row.
    await get_patron_for_update(ctx, card.patron_id)
    # A refused card's use (R10) is for the adapter to log in a unit of its own: this unit
    # rolls back with the refusal.
    status = await card_status(ctx, card_number, note_refusal=False)
    if status.refusal is not None:
        raise RuleViolation(
            status.refusal,
            REFUSALS.get(status.refusal, "This card cannot be used."),
            card_state=status.state.value,
        )
    stopping = _stopping(status.blocks, Action.BORROW)
    if stopping:
        raise _blocked(stopping, status.policy, status.institution.timezone, "borrow")
    item = await _item(ctx, status.institution.id, item_barcode.strip(), lock=True)
    if item is None:
        raise NotFound("item_not_found", f"No item with the barcode {item_barcode.strip()!r}.")
    if not item.loanable:
        raise RuleViolation(
            "item_not_loanable", f"{item.title!r} is for use in the library and cannot be lent."
        )
    current = await _open_loan(ctx, item.id)
    if current is not None:
        if current.patron_id == status.patron.id:
            raise Conflict("item_on_loan_to_patron", "This item is already on loan to you.")
        raise Conflict(
            "item_on_loan",
            "This item is on loan to someone else; it must be checked in at a desk first.",
        )
    if not may_borrow_more(await _open_loans(ctx, status.patron.id), status.policy.max_loans):
        raise RuleViolation(
            "max_loans",
            f"You have {status.policy.max_loans} items on loan, the most allowed; "
            "return one before borrowing more.",
            max_loans=status.policy.max_loans,
        )
    now = ctx.clock.now()
    loan = Loan(
        institution_id=item.institution_id,
        patron_id=status.patron.id,
        item_id=item.id,
        card_id=status.card.id,
        branch_id=ctx.actor.branch_id or item.branch_id,
        checked_out_at=now,
        due_at=due_at(now, status.policy.loan_days, status.institution.timezone),
        renewals=0,
        returned_at=None,
    )
    ctx.session.add(loan)
    await ctx.session.flush()
    await record_on(
        ctx,
        "loan:checkout",
        loan,
        item_id=item.id,
        barcode=item.barcode,
        card_id=loan.card_id,
        due_at=loan.due_at.isoformat(),
    )
    return loan


async def checkin(ctx: Ctx, item_barcode: str, *, institution_id: int | None = None) -> Loan:
    """Take the item back; the loan closes now. An overdue fine is brought up to today and is
    final from then on; a lost item's replacement invoice is cancelled, credited or kept as
    the group's policy says (loans.fines)."""
    _require(ctx, LENDERS, "forbidden_loan", "You may not check items in.")
    item = await get_item_by_barcode(ctx, item_barcode, institution_id=institution_id)
    loan = await _open_loan(ctx, item.id, lock=True)
    if loan is None:
        raise Conflict("item_not_on_loan", f"The item {item.barcode!r} is not on loan.")
    now = ctx.clock.now()
    await settle_at_checkin(ctx, loan, item, now)
    loan.returned_at = now
    await ctx.session.flush()
    await record_on(
        ctx,
        "loan:checkin",
        loan,
        item_id=item.id,
        barcode=item.barcode,
        overdue=now > loan.due_at,
        lost=loan.lost_at is not None,
    )
    return loan


async def renew(
    ctx: Ctx,
    item_barcode: str,
    *,
    patron_id: int | None = None,
    institution_id: int | None = None,
) -> Loan:
    """Lend the item for another period, from now or from the old due date if that is later.
    `patron_id` names whose loan it must be (a SIP2 renewal names the patron). A patron may
    renew only their own loans; anyone else's answers like no loan at all."""
    actor = ctx.actor
    is_patron = actor.kind is ActorKind.PATRON
    if not is_patron:
        _require(ctx, LENDERS, "forbidden_loan", "You may not renew loans.")
    not_yours = NotFound("loan_not_found", "You have no loan of this item.")
    try:
        item = await get_item_by_barcode(ctx, item_barcode, institution_id=institution_id)
    except NotFound:
        raise (
            not_yours
            if is_patron
            else NotFound("item_not_found", f"No item with the barcode {item_barcode.strip()!r}.")
        ) from None
    loan = await _open_loan(ctx, item.id, lock=True)
    if is_patron:
        if actor.patron_id is None or patron_id not in (None, actor.patron_id):
            raise not_yours
        if loan is None or loan.patron_id != actor.patron_id:
            raise not_yours
    if loan is None:
        raise Conflict("item_not_on_loan", f"The item {item.barcode!r} is not on loan.")
    if patron_id is not None and loan.patron_id != patron_id:
        raise Conflict("item_on_loan", "This item is on loan to another patron.")
    if loan.lost_at is not None:
        raise RuleViolation(
            "loan_lost", "This item is recorded as lost and cannot be renewed; bring it back."
        )
    patron = await get_patron(ctx, loan.patron_id)
    now = ctx.clock.now()
    if patron.closed_at is not None:
        raise RuleViolation("account_closed", REFUSALS["account_closed"])
    if patron.expires_at is not None and patron.expires_at <= now:
        raise RuleViolation("account_expired", REFUSALS["account_expired"])
    institution, _, policy = await policy_for_group(ctx, patron.group_id)
    blocks, _ = await blocks_of(ctx, patron.id)
    stopping = _stopping(blocks, Action.RENEW)
    if stopping:
        raise _blocked(stopping, policy, institution.timezone, "renew loans")
    if not may_renew(loan.renewals, policy.max_renewals):
        raise RuleViolation(
            "max_renewals",
            f"This loan has been renewed {loan.renewals} times, the most allowed; "
            "return the item or ask at the lending desk.",
            max_renewals=policy.max_renewals,
        )
    previous = loan.due_at
    loan.due_at = renewed_due_at(now, previous, policy.loan_days, institution.timezone)
    loan.renewals += 1
    await ctx.session.flush()
    await record_on(
        ctx,
        "loan:renew",
        loan,
        item_id=item.id,
        barcode=item.barcode,
        previous_due_at=previous.isoformat(),
        due_at=loan.due_at.isoformat(),
        renewals=loan.renewals,
    )
    return loan


async def items_of(ctx: Ctx, loans: Sequence[Loan]) -> dict[int, Item]:
    """The items the given loans are of, by item id, read in one query."""
    ids = {loan.item_id for loan in loans}
    if not ids:
        return {}
    found = await ctx.session.scalars(select(Item).where(Item.id.in_(ids)))
    return {item.id: item for item in found}


async def loans_of(ctx: Ctx, patron_id: int, *, open_only: bool = True) -> list[Loan]:
    """The patron's loans, soonest due first (returned ones too unless `open_only`)."""
    await get_patron(ctx, patron_id)
    query = select(Loan).where(Loan.patron_id == patron_id)
    if open_only:
        query = query.where(Loan.returned_at.is_(None))
    return list((await ctx.session.scalars(query.order_by(Loan.due_at, Loan.id))).all())


# Built once: SIP2 asks on every patron message, and making a statement costs about as much
# as running it.
_OPEN_LOAN_COUNT = select(func.count()).where(
    Loan.patron_id == bindparam("patron_id"), Loan.returned_at.is_(None)
)


async def count_open_loans(ctx: Ctx, patron_id: int) -> int:
    """How many loans the patron has out, counted by the database rather than read."""
    await get_patron(ctx, patron_id)
    return int(await ctx.session.scalar(_OPEN_LOAN_COUNT, {"patron_id": patron_id}) or 0)


async def open_loan_of(ctx: Ctx, item: Item) -> Loan | None:
    """The item's open loan, if it is out."""
    if not ctx.actor.may_see_institution(item.institution_id):
        raise NotFound("item_not_found", f"No item with the barcode {item.barcode!r}.")
    return await _open_loan(ctx, item.id)
