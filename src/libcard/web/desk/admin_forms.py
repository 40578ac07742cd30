"""What the administrators' pages share: the admin's visit, reading typed values from their
forms, and the names of policy values as administrators read them. No routes here."""

from __future__ import annotations

from collections.abc import Mapping
from functools import cache
from typing import Annotated, Any
from zoneinfo import available_timezones

from fastapi import Path, Request
from fastapi.responses import Response

from libcard.access.scopes import Scope
from libcard.context import ActorKind
from libcard.errors import InvalidInput, LibcardError
from libcard.kit.i18n import N_, translate
from libcard.kit.money import format_minor, parse_amount
from libcard.policy.rules import (
    Action,
    BlockCode,
    FieldOwner,
    LostItemReturned,
    Policy,
    parse_effects,
)
from libcard.staff.roles import StaffRole
from libcard.web.desk.render import form_error, render
from libcard.web.desk.visit import DeskVisit, staff_visit
from libcard.web.portal.data_routes import GROUP_LABELS
from libcard.web.portal.forms import Form
from libcard.web.portal.render import LANGUAGE_NAMES

# An id in a path: a number the database can hold, or a refusal before any query.
IdPath = Annotated[int, Path(ge=1, le=2**31 - 1)]
NOTE_LENGTH = 500  # what the audit log keeps of a reason


async def admin_visit(request: Request) -> DeskVisit:
    """Every administration page: a logged-in staff member with the admin role, else 403."""
    visit = await staff_visit(request)
    visit.require(StaffRole.ADMIN)
    return visit


# Names, as administrators read them. Templates get them as `names`.

ACTION_LABELS = {
    Action.BORROW.value: N_("Borrowing"),
    Action.RENEW.value: N_("Renewing loans"),
    Action.HOLD.value: N_("Placing holds"),
    Action.DIGITAL.value: N_("Digital services"),
}
BLOCK_LABELS = {
    BlockCode.PIN_LOCKED.value: N_("Too many wrong PINs"),
    BlockCode.FEE_THRESHOLD.value: N_("Fees at the threshold"),
    BlockCode.REPLACEMENT_UNPAID.value: N_("Unpaid replacement invoice"),
    BlockCode.IN_COLLECTION.value: N_("Debt with a collection agency"),
    BlockCode.STAFF.value: N_("Block set by staff"),
    BlockCode.CARD_RETAINED.value: N_("Card kept by a self-checkout machine"),
}
OWNER_LABELS = {
    FieldOwner.REGISTRY.value: N_("Student registry"),
    FieldOwner.IDENTITY_PORTAL.value: N_("Staff identity portal"),
    FieldOwner.DESK.value: N_("Lending desk"),
    FieldOwner.PATRON.value: N_("Patron (the desk may help)"),
}
ROLE_LABELS = {
    StaffRole.DESK.value: N_("Desk"),
    StaffRole.SUPERVISOR.value: N_("Supervisor"),
    StaffRole.ADMIN.value: N_("Administrator"),
}
ROLE_HINTS = {
    StaffRole.DESK.value: N_("The lending desk's daily work."),
    StaffRole.SUPERVISOR.value: N_("The desk, and also waiving and refunding fees."),
    StaffRole.ADMIN.value: N_("Everything, and also these administration pages."),
}
# The kinds of system an API token may act as; never libcard itself, and a patron's own token
# names its patron, which these pages do not do.
TOKEN_ACTORS = {
    ActorKind.SERVICE.value: N_("Digital service or catalogue (asks about cards)"),
    ActorKind.TERMINAL.value: N_("Self-checkout machine (over the API)"),
    ActorKind.REGISTRY.value: N_("Student registry"),
    ActorKind.IDENTITY_PORTAL.value: N_("Staff identity portal"),
    ActorKind.CAMPUS_CARD.value: N_("Campus card office"),
    ActorKind.AGENCY.value: N_("Collection agency"),
    ActorKind.DESK.value: N_("Lending desk system"),
    ActorKind.SUPERVISOR.value: N_("Lending desk system with supervisor rights"),
    ActorKind.ADMIN.value: N_("Administration (everything in this institution)"),
}
SCOPE_LABELS = {
    Scope.CARDS_STATUS.value: N_("Ask whether a card may borrow"),
    Scope.PATRONS_READ.value: N_("Read patrons"),
    Scope.PATRONS_WRITE.value: N_("Register and change patrons"),
    Scope.CARDS_READ.value: N_("Read cards"),
    Scope.CARDS_WRITE.value: N_("Issue cards and report them lost"),
    Scope.ACTIVATION.value: N_("Send activation codes and activate accounts"),
    Scope.PIN_VERIFY.value: N_("Check PINs"),
    Scope.PIN_CHANGE.value: N_("Change PINs"),
    Scope.PIN_UNLOCK.value: N_("Unlock PINs"),
    Scope.PASSWORD.value: N_("Change and reset passwords"),
    Scope.FEES_READ.value: N_("Read fees"),
    Scope.FEES_WRITE.value: N_("Charge, waive and refund fees"),
    Scope.PAYMENTS_WRITE.value: N_("Record payments"),
    Scope.BLOCKS_READ.value: N_("Read blocks"),
    Scope.BLOCKS_WRITE.value: N_("Place and lift blocks"),
    Scope.ITEMS_READ.value: N_("Look up items"),
    Scope.ITEMS_WRITE.value: N_("Add, change and import items"),
    Scope.LOANS_READ.value: N_("Read loans"),
    Scope.LOANS_WRITE.value: N_("Check out, check in and renew loans"),
    Scope.COLLECTION.value: N_("Work the collection cases handed to an agency"),
    Scope.AUDIT_READ.value: N_("Read the audit log"),
    Scope.POLICY_READ.value: N_("Read policy"),
    Scope.POLICY_WRITE.value: N_("Change policy"),
    Scope.TOKENS_WRITE.value: N_("Make and revoke API tokens"),
    Scope.ME.value: N_("A patron's own app: their e-card"),
    Scope.REGISTRY.value: N_("Feed students from the student registry"),
    Scope.SCIM.value: N_("Feed employees from the staff identity portal (SCIM)"),
    Scope.CAMPUS_CARD.value: N_("Report employee badges lost, blocked or replaced"),
}
# What becomes of a replacement invoice when the lost item comes back after all.
LOST_RETURNED_LABELS = {
    LostItemReturned.CANCEL.value: N_("Cancel what is unpaid"),
    LostItemReturned.CREDIT.value: N_("Cancel it in full and refund what was paid"),
    LostItemReturned.KEEP.value: N_("Keep the invoice"),
}
LOST_RETURNED_HINTS = {
    LostItemReturned.CANCEL.value: N_(
        "The unpaid part of the invoice is waived; what the patron has paid stays paid."
    ),
    LostItemReturned.CREDIT.value: N_(
        "The unpaid part is waived and what the patron has paid is refunded to them."
    ),
    LostItemReturned.KEEP.value: N_(
        "The invoice stands: the patron still owes the replacement cost."
    ),
}
NAMES: dict[str, Mapping[str, str]] = {
    "actions": ACTION_LABELS,
    "blocks": BLOCK_LABELS,
    "owners": OWNER_LABELS,
    "fields": GROUP_LABELS,
    "roles": ROLE_LABELS,
    "role_hints": ROLE_HINTS,
    "token_actors": TOKEN_ACTORS,
    "scopes": SCOPE_LABELS,
    "lost_returned": LOST_RETURNED_LABELS,
    "lost_returned_hints": LOST_RETURNED_HINTS,
    "languages": LANGUAGE_NAMES,  # each in its own language: not translated
}


# Reading forms. A value that cannot be read names its field, so the page can mark it.


class FieldError(InvalidInput):
    """One field of an administration form holds what it cannot hold."""

    def __init__(self, field: str, label: str, text: str, **values: object) -> None:
        super().__init__("invalid_field", f"{field}: {text % {'label': label, **values}}")
        self.field = field
        self.label = label
        self.text = text
        self.values = values


# Service refusals that are about one field of the forms, for aria-invalid.
FIELD_OF_CODE = {
    "branch_code": "code",
    "branch_code_taken": "code",
    "branch_name": "name",
    "branch_address": "address",
    "terminal_login": "login",
    "terminal_login_taken": "login",
    "terminal_name": "name",
    "terminal_encoding": "encoding",
    "terminal_language": "language",
    "branch_closed": "branch",
    "branch_not_found": "branch",
    "group_exists": "code",
    "staff_username": "username",
    "staff_username_taken": "username",
    "staff_name": "display_name",
    "staff_role": "role",
    "staff_self_demote": "role",
    "email_format": "email",
    "token_scopes": "scopes",
    "token_actor": "actor_kind",
    "reason_required": "reason",
}


def show(visit: DeskVisit, template: str, **values: Any) -> Response:
    return render(visit, template, names=NAMES, **values)


def show_error(visit: DeskVisit, template: str, error: LibcardError, **values: Any) -> Response:
    """The form again with the error above it and, where known, its field marked."""
    if isinstance(error, FieldError):
        language = visit.language
        text = translate(
            language, error.text, label=translate(language, error.label), **error.values
        )
        return render(
            visit,
            template,
            status=error.status,
            error=text,
            error_code=error.code,
            error_field=error.field,
            names=NAMES,
            **values,
        )
    field = FIELD_OF_CODE.get(error.code)
    return form_error(visit, template, error, error_field=field, names=NAMES, **values)


def note(form: Form, *, required: bool = False) -> str:
    """The reason or note of a form, for the audit log."""
    text = " ".join(form.get("reason").split())[:NOTE_LENGTH]
    if required and not text:
        raise InvalidInput("reason_required", "Give a reason.")
    return text


def text(form: Form, name: str) -> str:
    return " ".join(form.get(name).split())


def required_text(form: Form, name: str, label: str, *, limit: int = 200) -> str:
    value = text(form, name)
    if not value:
        raise FieldError(name, label, N_("%(label)s: this field is required."))
    if len(value) > limit:
        raise FieldError(name, label, N_("%(label)s: at most %(limit)s characters."), limit=limit)
    return value


def whole_number(
    form: Form, name: str, label: str, *, low: int, high: int, optional: bool = False
) -> int | None:
    raw = form.get(name).strip()
    if not raw and optional:
        return None
    if not (raw.isascii() and raw.isdigit() and len(raw) <= 9 and low <= int(raw) <= high):
        raise FieldError(
            name,
            label,
            N_("%(label)s: write a whole number from %(low)s to %(high)s."),
            low=low,
            high=high,
        )
    return int(raw)


def amount(
    form: Form,
    name: str,
    label: str,
    currency: str,
    *,
    above_zero: bool,
    optional: bool = False,
    at_most: int | None = None,
) -> int | None:
    """An amount typed in major units (225.00, or 225,00 as many people write it)."""
    raw = form.get(name).strip().replace(" ", "")
    if not raw and optional:
        return None
    if "," in raw and "." not in raw:
        raw = raw.replace(",", ".")
    example = format_minor(22500, currency)
    try:
        minor = parse_amount(raw, currency)
    except InvalidInput:
        raise FieldError(
            name, label, N_("%(label)s: write an amount like %(example)s."), example=example
        ) from None
    if minor < 0 or (above_zero and minor == 0):
        limit = N_("%(label)s: the amount must be above zero.")
        if not above_zero:
            limit = N_("%(label)s: the amount cannot be negative.")
        raise FieldError(name, label, limit)
    if at_most is not None and minor > at_most:
        raise FieldError(
            name,
            label,
            N_("%(label)s: at most %(most)s."),
            most=format_minor(at_most, currency),
        )
    return minor


def choice(
    form: Form, name: str, label: str, allowed: Mapping[str, object] | tuple[str, ...]
) -> str:
    value = form.get(name)
    if value not in allowed:
        raise FieldError(name, label, N_("%(label)s: choose one of the options."))
    return value


@cache
def time_zones() -> frozenset[str]:
    return frozenset(available_timezones())


def time_zone(form: Form, name: str, label: str) -> str:
    value = form.get(name).strip()
    if value not in time_zones():
        raise FieldError(name, label, N_("%(label)s: write a time zone like Europe/Copenhagen."))
    return value


# Block effects: which actions each block code stops.


def effective_effects(raw: Mapping[str, Any] | None) -> dict[str, list[str]]:
    """Every block code with what it stops under these stored effects (missing = all)."""
    policy = Policy(block_effects=parse_effects(raw))
    return {
        code.value: sorted(action.value for action in policy.effects_of(code)) for code in BlockCode
    }


def ticked_effects(form: Form, codes: tuple[str, ...] | None = None) -> dict[str, list[str]]:
    """The effects table of a form: one checkbox per block code and action."""
    return {
        code.value: sorted(a.value for a in Action if form.has(f"effect.{code.value}.{a.value}"))
        for code in BlockCode
        if codes is None or code.value in codes
    }
