"""The patron view at the desk (account, cards, blocks, fees, history), lifting a PIN lockout
after a photo ID check (R6), staff blocks (R14e) and the postal address (R8).

The card actions (lost, stolen, replace, issue) are in card_routes; they show their refusals
on this page through `patron_page`.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from fastapi import APIRouter, Request
from fastapi.responses import Response

from libcard.accounts.portal import AccountView, CardView, account_view
from libcard.audit.models import AuditEvent
from libcard.audit.service import events
from libcard.blocks.rules import Block
from libcard.blocks.service import blocks_of, lift_block, place_staff_block
from libcard.blocks.texts import BlockText, describe
from libcard.cards.pin import unlock_pin
from libcard.cards.rules import MISUSE_STATES, CardKind, CardState
from libcard.errors import Forbidden, InvalidInput, LibcardError, NotFound
from libcard.fees.service import FeeView
from libcard.kit.i18n import N_, day, money, translate
from libcard.patrons.service import update_patron
from libcard.policy.branches import list_branches
from libcard.policy.rules import PERSONAL_FIELDS, Action, BlockCode, FieldOwner, may_write
from libcard.staff.roles import ACTOR_KIND
from libcard.web.api.deps import IdPath
from libcard.web.desk.event_labels import EVENT_LABELS
from libcard.web.desk.find_routes import birth_day
from libcard.web.desk.render import add_messages, form_error, redirect, render
from libcard.web.desk.visit import DeskVisit, staff_visit
from libcard.web.portal.data_routes import GROUP_LABELS
from libcard.web.portal.data_routes import LABELS as FIELD_LABELS
from libcard.web.portal.forms import read_form
from libcard.web.portal.render import LANGUAGE_NAMES

router = APIRouter(include_in_schema=False)

HISTORY_LENGTH = 20
ACTION_ORDER = (Action.BORROW, Action.RENEW, Action.HOLD, Action.DIGITAL)
LIFTABLE = frozenset({BlockCode.STAFF, BlockCode.CARD_RETAINED})
IN_USE = frozenset({CardState.ACTIVE, CardState.NOT_ACTIVATED})

# The kinds of cards.rules.PHOTO_ID_KINDS, in the order staff meet them.
PHOTO_IDS: dict[str, str] = {
    "passport": N_("Passport"),
    "national_id_card": N_("National identity card"),
    "driving_licence": N_("Driving licence"),
    "residence_permit": N_("Residence permit"),
    "student_id_card": N_("Student ID card with photo"),
}

add_messages(
    {
        "photo_id_not_checked": N_(
            "Tick the box once you have checked a valid photo ID. Nothing was changed."
        ),
        "photo_id_required": N_("Choose which kind of photo ID you checked."),
        "pin_not_locked": N_("The PIN is not locked (any more). Nothing was changed."),
        "block_reason_required": N_(
            "Give the reason for the block: the patron reads it in the portal. Nothing was changed."
        ),
        "ends_on_format": N_("Write the end date as YYYY-MM-DD, or leave it empty."),
        "ends_at_past": N_("Choose an end date after today, or leave it empty."),
        "block_not_found": N_("This block does not exist or has been lifted already."),
        "block_lifted": N_("This block has been lifted already."),
        "address_not_desks": N_(
            "The desk cannot change this address: it comes from another system. See who "
            "owns it below. Nothing was changed."
        ),
    }
)

SCAN_WARNINGS: dict[CardState, str] = {
    CardState.STOLEN: N_(
        "This card was reported stolen on %(date)s. Keep it if you can, and check the "
        "person's photo ID: they may not be its owner."
    ),
    CardState.LOST: N_(
        "This card was reported lost on %(date)s. Keep it if you can, and check the "
        "person's photo ID: they may not be its owner."
    ),
    CardState.REPLACED: N_(
        "This card was replaced by a newer card on %(date)s and no longer works. Keep it, "
        "and check the person's photo ID: they may not be its owner."
    ),
    CardState.EXPIRED: N_(
        "This card expired on %(date)s and no longer works. Offer the patron a new card."
    ),
    CardState.NOT_ACTIVATED: N_(
        "This card is not activated yet and cannot be used until the patron activates it."
    ),
}

NOTICES: dict[str, str] = {
    "unlocked": N_("The PIN lockout is lifted. The patron can use their PIN again."),
    "blocked": N_("The block is placed. The patron sees its reason in the portal."),
    "lifted": N_("The block is lifted."),
    "lost": N_("The card is reported lost. From now on it is refused everywhere."),
    "stolen": N_("The card is marked stolen. From now on it is refused everywhere."),
    "replaced": N_("The new card is issued; the old one no longer works."),
    "issued": N_("The library card is issued and can be handed over."),
    "address": N_("The address is saved."),
}
NEW_ECARD = N_("The new e-card number is %(number)s; the patron sees it in the portal.")
NEW_CARD = N_("New card number: %(number)s.")
FEE_CHARGED = N_("%(amount)s has been charged to the account.")
NO_FEE = N_("No fee was charged.")

CARD_DETAIL = N_("Card %(number)s")
AMOUNT_DETAIL = N_("Amount: %(amount)s")
PHOTO_ID_DETAIL = N_("Photo ID: %(kind)s")
NOTE_DETAIL = N_("Note: %(note)s")
FIELDS_DETAIL = N_("Fields: %(fields)s")
MISUSE_DETAIL = N_("Possible misuse")


@dataclass(frozen=True)
class BlockItem:
    block: Block
    text: BlockText
    stops: list[str]
    liftable: bool  # a stored block staff lift with a note
    pin: bool  # the PIN lockout: lifted with a photo ID check
    paid_off: bool  # lifted by paying: link to the fees page


@dataclass(frozen=True)
class CardItem:
    view: CardView
    may_report_lost: bool
    may_mark_stolen: bool
    may_replace: bool
    renewal: bool  # an expired card is renewed free of charge
    replace_fee_minor: int


@dataclass(frozen=True)
class EventItem:
    event: AuditEvent
    label: str
    branch: str
    details: list[str]


@dataclass(frozen=True)
class ScanWarning:
    text: str
    misuse: bool  # lost, stolen or replaced: a role="alert" warning


@dataclass
class PatronPage:
    """What the patron view shows; built in one read-only unit."""

    view: AccountView
    blocks: list[BlockItem]
    cards: list[CardItem]
    may_issue_physical: bool
    lost_physical: bool
    open_fees: list[FeeView]
    history: list[EventItem]
    birth_date: str


def _block_items(view: AccountView, language: str) -> list[BlockItem]:
    timezone = view.institution.timezone
    return [
        BlockItem(
            block,
            describe(block, view.policy, language, timezone),
            [action.value for action in ACTION_ORDER if action in block.effects],
            block.code in LIFTABLE and bool(block.stored_id),
            block.code is BlockCode.PIN_LOCKED,
            block.code in (BlockCode.FEE_THRESHOLD, BlockCode.REPLACEMENT_UNPAID),
        )
        for block in view.blocks
    ]


def _physical_in_use(view: AccountView) -> bool:
    return any(c.card.kind == CardKind.PHYSICAL and c.state in IN_USE for c in view.cards)


def _card_items(view: AccountView) -> list[CardItem]:
    open_account = view.patron.closed_at is None
    fee = view.policy.card_replacement_fee_minor
    items = []
    for item in view.cards:
        state = item.state
        renewal = state is CardState.EXPIRED
        replaceable = (
            open_account
            and item.card.kind == CardKind.PHYSICAL
            and view.policy.may_hold_physical_card
            and state is not CardState.REPLACED
            # A card out of use (lost, stolen, expired) is replaced once: then the new one is
            # in use, and another would be a second card, not a replacement.
            and (state in IN_USE or not _physical_in_use(view))
        )
        items.append(
            CardItem(
                item,
                may_report_lost=state in IN_USE,
                may_mark_stolen=state in IN_USE | {CardState.LOST},
                may_replace=replaceable,
                renewal=renewal,
                replace_fee_minor=0 if renewal else fee,
            )
        )
    return items


def _event_items(
    found: list[AuditEvent], view: AccountView, branches: dict[int, str], language: str
) -> list[EventItem]:
    numbers = {str(c.card.id): c.card.number for c in view.cards if c.card.number}
    items = []
    for event in found:
        items.append(
            EventItem(
                event,
                translate(language, EVENT_LABELS[event.action])
                if event.action in EVENT_LABELS
                else event.action,
                branches.get(event.branch_id, "") if event.branch_id else "",
                _event_details(event, numbers, view.policy.currency, language),
            )
        )
    return items


def _event_details(
    event: AuditEvent, numbers: dict[str, str], currency: str, language: str
) -> list[str]:
    """The few details staff look for: which card, how much, which photo ID, the note."""
    found = event.details
    details = []
    if event.subject_kind == "card" and event.subject_id in numbers:
        details.append(translate(language, CARD_DETAIL, number=numbers[event.subject_id]))
    if isinstance(found.get("amount_minor"), int):
        amount = money(found["amount_minor"], found.get("currency") or currency, language)
        details.append(translate(language, AMOUNT_DETAIL, amount=amount))
    if found.get("photo_id_kind"):
        kind = str(found["photo_id_kind"])
        shown = translate(language, PHOTO_IDS.get(kind, kind))
        details.append(translate(language, PHOTO_ID_DETAIL, kind=shown))
    if found.get("note"):
        details.append(translate(language, NOTE_DETAIL, note=found["note"]))
    if found.get("fields"):
        fields = ", ".join(str(f) for f in found["fields"])
        details.append(translate(language, FIELDS_DETAIL, fields=fields))
    if found.get("possible_misuse"):
        details.append(translate(language, MISUSE_DETAIL))
    return details


async def load_patron_page(visit: DeskVisit, patron_id: int) -> PatronPage:
    """Everything the patron view shows; NotFound for another institution's patron."""
    async with visit.unit(readonly=True) as ctx:
        view = await account_view(ctx, patron_id)
        found = await events(ctx, patron_id=view.patron.id, limit=HISTORY_LENGTH)
        branches = {b.id: b.name for b in await list_branches(ctx, view.institution.id)}
    return PatronPage(
        view=view,
        blocks=_block_items(view, visit.language),
        cards=_card_items(view),
        may_issue_physical=(
            view.policy.may_hold_physical_card
            and view.patron.closed_at is None
            and not _physical_in_use(view)
        ),
        lost_physical=any(
            c.card.kind == CardKind.PHYSICAL and c.state in (CardState.LOST, CardState.STOLEN)
            for c in view.cards
        ),
        open_fees=[v for v in view.ledger.views if v.status.outstanding_minor > 0],
        history=_event_items(found, view, branches, visit.language),
        birth_date=birth_day(view.patron.birth_date, visit.language),
    )


def _scan_warning(page: PatronPage, scanned: str, language: str) -> ScanWarning | None:
    """What the desk must know about the card just scanned, if it cannot be used."""
    timezone = page.view.institution.timezone
    for item in page.view.cards:
        if str(item.card.id) != scanned or item.state is CardState.ACTIVE:
            continue
        when = item.card.state_changed_at
        if item.state is CardState.EXPIRED and item.card.expires_at is not None:
            when = item.card.expires_at
        text = translate(language, SCAN_WARNINGS[item.state], date=day(when, language, timezone))
        return ScanWarning(text, item.state in MISUSE_STATES)
    return None


def _notice(page: PatronPage, request: Request, language: str) -> str | None:
    """The result of the action just done, with the new card number and fee where there are."""
    done = request.query_params.get("done", "")
    if done not in NOTICES:
        return None
    parts = [translate(language, NOTICES[done])]
    card_id = request.query_params.get("card", "")
    new_card = next((c.card for c in page.view.cards if str(c.card.id) == card_id), None)
    if new_card is not None and new_card.number:
        text = NEW_ECARD if new_card.kind == CardKind.ECARD else NEW_CARD
        parts.append(translate(language, text, number=new_card.number))
    if done == "replaced":
        fee_id = request.query_params.get("fee", "")
        fee = next((v.fee for v in page.view.ledger.views if str(v.fee.id) == fee_id), None)
        if fee is not None:
            amount = money(fee.amount_minor, fee.currency, language)
            parts.append(translate(language, FEE_CHARGED, amount=amount))
        else:
            parts.append(translate(language, NO_FEE))
    return " ".join(parts)


def _render(
    visit: DeskVisit, page: PatronPage, error: LibcardError | None, **values: Any
) -> Response:
    now = visit.runtime.clock.now()
    tomorrow = now.astimezone(_zone(page)) + timedelta(days=1)
    all_values = {
        "page": page,
        "now": now,
        "view": page.view,
        "photo_ids": PHOTO_IDS,
        "earliest_end": tomorrow.date().isoformat(),
        "submitted": {},
        "open_form": None,
        **values,
    }
    if error is not None:
        return form_error(visit, "desk/patron.html", error, **all_values)
    return render(visit, "desk/patron.html", **all_values)


def _zone(page: PatronPage) -> ZoneInfo:
    return ZoneInfo(page.view.institution.timezone)


async def patron_page(
    visit: DeskVisit,
    patron_id: int,
    *,
    error: LibcardError | None = None,
    open_form: str | None = None,
    submitted: dict[str, str] | None = None,
) -> Response:
    """The patron view again after a refused action: the error on top, its form open."""
    page = await load_patron_page(visit, patron_id)
    return _render(visit, page, error, open_form=open_form, submitted=submitted or {})


@router.get("/desk/patrons/{patron_id}")
async def patron_view(request: Request, patron_id: IdPath) -> Response:
    visit = await staff_visit(request)
    page = await load_patron_page(visit, patron_id)
    scanned = request.query_params.get("scanned", "")
    return _render(
        visit,
        page,
        None,
        scan_warning=_scan_warning(page, scanned, visit.language) if scanned else None,
        notice=_notice(page, request, visit.language),
    )


@router.post("/desk/patrons/{patron_id}/pin-unlock")
async def unlock(request: Request, patron_id: IdPath) -> Response:
    """R6: the lockout is lifted only by staff who checked a valid photo ID, and which kind."""
    visit = await staff_visit(request)
    form = await read_form(request)
    note = form.get("note").strip()
    try:
        visit.check_csrf(form.get("csrf"))
        if form.get("photo_id_checked") != "yes":
            raise InvalidInput("photo_id_not_checked", "Check a valid photo ID first.")
        async with visit.unit(reason=note) as ctx:
            await unlock_pin(ctx, patron_id, form.get("photo_id_kind"), note or None)
    except LibcardError as error:
        return await patron_page(
            visit, patron_id, error=error, open_form="pin", submitted=form.values
        )
    return redirect(visit, f"/desk/patrons/{patron_id}?done=unlocked")


def block_end(text: str, timezone: str) -> datetime | None:
    """The end date of a staff block: the block ends at the start (00:00) of that day in the
    institution's time zone, so the patron's "ends on <date>" is the day it is gone."""
    if not text:
        return None
    try:
        chosen = date.fromisoformat(text)
    except ValueError:
        raise InvalidInput("ends_on_format", "An end date is YYYY-MM-DD.") from None
    return datetime.combine(chosen, time(0), tzinfo=ZoneInfo(timezone)).astimezone(UTC)


@router.post("/desk/patrons/{patron_id}/blocks")
async def place_block(request: Request, patron_id: IdPath) -> Response:
    """R14e: a staff block with a reason the patron reads, and an optional end date."""
    visit = await staff_visit(request)
    form = await read_form(request)
    reason = form.get("reason").strip()
    try:
        visit.check_csrf(form.get("csrf"))
        assert visit.institution is not None
        ends_at = block_end(form.get("ends_on").strip(), visit.institution.timezone)
        if not reason:
            raise InvalidInput("block_reason_required", "A staff block needs a reason.")
        async with visit.unit(reason=reason) as ctx:
            await place_staff_block(ctx, patron_id, reason, ends_at)
    except LibcardError as error:
        return await patron_page(
            visit, patron_id, error=error, open_form="block", submitted=form.values
        )
    return redirect(visit, f"/desk/patrons/{patron_id}?done=blocked")


@router.post("/desk/patrons/{patron_id}/blocks/{block_id}/lift")
async def lift(request: Request, patron_id: IdPath, block_id: IdPath) -> Response:
    """A staff block or a retained card's block, lifted with a note. Only blocks of this
    patron that hold now: the block id of anyone else's account is "not found"."""
    visit = await staff_visit(request)
    form = await read_form(request)
    note = form.get("note").strip()
    try:
        visit.check_csrf(form.get("csrf"))
        async with visit.unit(reason=note) as ctx:
            holding, _ = await blocks_of(ctx, patron_id)
            if not any(b.stored_id == block_id and b.code in LIFTABLE for b in holding):
                raise NotFound("block_not_found", f"No block {block_id} on this account.")
            await lift_block(ctx, block_id, note or None)
    except LibcardError as error:
        return await patron_page(
            visit, patron_id, error=error, open_form=f"lift-{block_id}", submitted=form.values
        )
    return redirect(visit, f"/desk/patrons/{patron_id}?done=lifted")


# --- the postal address (R8) -------------------------------------------------------------

ADDRESS = "address"
OWNER_NAMES: dict[FieldOwner, str] = {
    FieldOwner.REGISTRY: N_("Student registry"),
    FieldOwner.IDENTITY_PORTAL: N_("Staff identity portal"),
    FieldOwner.PATRON: N_("The patron, in the portal"),
    FieldOwner.DESK: N_("The lending desk"),
}
# Where an address the desk does not own is changed, for telling the patron.
CHANGED_ELSEWHERE: dict[FieldOwner, str] = {
    FieldOwner.REGISTRY: N_(
        "The address comes from the student registry, so the desk cannot change it. The "
        "student asks the university service centre to change it there."
    ),
    FieldOwner.IDENTITY_PORTAL: N_(
        "The address comes from the staff identity portal, so the desk cannot change it. The "
        "employee changes it there, or asks their HR department."
    ),
}


@dataclass(frozen=True)
class DataRow:
    column: str
    label: str
    value: str


@dataclass(frozen=True)
class DataGroup:
    name: str
    label: str
    owner: str
    editable: bool
    rows: list[DataRow]


def data_groups(view: AccountView, visit: DeskVisit) -> list[DataGroup]:
    """Every personal field with its owner; only the address may be editable on this page."""
    kind = ACTOR_KIND[visit.role]
    groups = []
    for name, columns in PERSONAL_FIELDS.items():
        owner = view.policy.owner_of(name)
        rows = [
            DataRow(
                column,
                FIELD_LABELS[column],
                _shown(getattr(view.patron, column), visit.language),
            )
            for column in columns
        ]
        editable = name == ADDRESS and may_write(owner, kind)
        groups.append(DataGroup(name, GROUP_LABELS[name], OWNER_NAMES[owner], editable, rows))
    return groups


def _shown(value: object, language: str) -> str:
    if value is None:
        return ""
    if isinstance(value, date):
        return birth_day(value, language)
    if value in LANGUAGE_NAMES:
        return LANGUAGE_NAMES[str(value)]
    return str(value)


async def _address_page(
    visit: DeskVisit, patron_id: int, error: LibcardError | None = None, **values: Any
) -> Response:
    async with visit.unit(readonly=True) as ctx:
        view = await account_view(ctx, patron_id)
    groups = data_groups(view, visit)
    address = next(g for g in groups if g.name == ADDRESS)
    owner = view.policy.owner_of(ADDRESS)
    page_values: dict[str, Any] = {
        "view": view,
        "groups": groups,
        "address": address,
        "elsewhere": None if address.editable else CHANGED_ELSEWHERE.get(owner),
        "submitted": {},
        **values,
    }
    if error is not None:
        return form_error(visit, "desk/address.html", error, **page_values)
    return render(visit, "desk/address.html", **page_values)


@router.get("/desk/patrons/{patron_id}/address")
async def address_page(request: Request, patron_id: IdPath) -> Response:
    visit = await staff_visit(request)
    return await _address_page(visit, patron_id)


@router.post("/desk/patrons/{patron_id}/address")
async def save_address(request: Request, patron_id: IdPath) -> Response:
    """Only the address columns are taken from the form; whether the desk may write them is
    the service's decision (field ownership), so a forged form for a student is refused."""
    visit = await staff_visit(request)
    form = await read_form(request)
    changes: dict[str, object] = {
        column: form.get(column).strip() or None
        for column in PERSONAL_FIELDS[ADDRESS]
        if form.has(column)
    }
    try:
        visit.check_csrf(form.get("csrf"))
        async with visit.unit(reason=form.get("reason")) as ctx:
            await update_patron(ctx, patron_id, changes)
    except LibcardError as error:
        if error.code == "field_not_yours":
            # The service's code is shared with the registration form; here it is the address.
            error = Forbidden("address_not_desks", error.message, **error.details)
        return await _address_page(visit, patron_id, error, submitted=form.values)
    return redirect(visit, f"/desk/patrons/{patron_id}?done=address")
