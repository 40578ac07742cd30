"""My data (R8, R9): every field shown; the patron edits only what policy lets their group own,
and every other field says who owns it and where it is changed."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

from fastapi import APIRouter, Request
from fastapi.responses import Response

from libcard.accounts.portal import AccountView
from libcard.context import ActorKind
from libcard.errors import InvalidInput, LibcardError
from libcard.kit.i18n import N_
from libcard.patrons.service import update_patron
from libcard.policy.rules import COLUMN_TO_FIELD, PERSONAL_FIELDS, FieldOwner, may_write
from libcard.web.portal.forms import read_form
from libcard.web.portal.render import message_for, redirect, render
from libcard.web.portal.sso_routes import identity_link_url
from libcard.web.portal.visit import Visit, patron_visit

router = APIRouter(include_in_schema=False)

LABELS = {
    "first_name": N_("First name"),
    "last_name": N_("Last name"),
    "birth_date": N_("Date of birth"),
    "street": N_("Street and number"),
    "postal_code": N_("Postal code"),
    "city": N_("Town or city"),
    "country": N_("Country (two letters, like DK)"),
    "email": N_("E-mail"),
    "institutional_email": N_("Institutional e-mail"),
    "phone": N_("Phone"),
    "preferred_language": N_("Language of pages and mail"),
}
GROUP_LABELS = {
    "name": N_("Name"),
    "birth_date": N_("Date of birth"),
    "address": N_("Address"),
    "email": N_("E-mail"),
    "institutional_email": N_("Institutional e-mail"),
    "phone": N_("Phone"),
    "preferred_language": N_("Language"),
}
OWNER_TEXTS = {
    FieldOwner.REGISTRY: N_(
        "Comes from the student registry. To change it, contact the university service centre."
    ),
    FieldOwner.IDENTITY_PORTAL: N_(
        "Comes from the staff identity portal. Change it there, or ask your HR department."
    ),
    FieldOwner.DESK: N_("Changed only at the lending desk. Bring a photo ID."),
}
# For people and their browsers' autofill (WCAG 1.3.5, identify input purpose).
AUTOCOMPLETE = {
    "first_name": "given-name",
    "last_name": "family-name",
    "birth_date": "bday",
    "street": "street-address",
    "postal_code": "postal-code",
    "city": "address-level2",
    "country": "country",
    "email": "email",
    "phone": "tel",
    "preferred_language": "off",
}
INPUT_TYPES = {"email": "email", "institutional_email": "email", "phone": "tel"}
# Which field a refusal concerns, where the service's error does not say: marked on the page.
FIELD_OF_ERROR = {
    "email_format": "email",
    "email_in_use": "email",
    "country_format": "address",
    "birth_date_format": "birth_date",
    "language": "preferred_language",
}


@dataclass(frozen=True)
class FieldRow:
    column: str
    label: str
    value: str
    autocomplete: str
    input_type: str


@dataclass(frozen=True)
class FieldGroup:
    name: str
    label: str
    editable: bool
    owner_text: str | None
    rows: list[FieldRow]


def field_groups(view: AccountView) -> list[FieldGroup]:
    groups = []
    for name, columns in PERSONAL_FIELDS.items():
        owner = view.policy.owner_of(name)
        editable = may_write(owner, ActorKind.PATRON)
        rows = [
            FieldRow(
                column,
                LABELS[column],
                _shown(getattr(view.patron, column)),
                AUTOCOMPLETE.get(column, "off"),
                INPUT_TYPES.get(column, "text"),
            )
            for column in columns
        ]
        groups.append(
            FieldGroup(
                name,
                GROUP_LABELS[name],
                editable,
                None if editable else OWNER_TEXTS[owner],
                rows,
            )
        )
    return groups


def _birth_date(text: str) -> date:
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise InvalidInput("birth_date_format", "A birth date is YYYY-MM-DD.") from None


def _shown(value: object) -> str:
    return "" if value is None else str(value)


async def _page(visit: Visit, *, status: int = 200, **values: object) -> Response:
    view = await visit.account()
    return render(
        visit,
        "portal/my_data.html",
        status=status,
        view=view,
        groups=field_groups(view),
        identity_link=await identity_link_url(visit),
        **values,
    )


@router.get("/my-data")
async def my_data_page(request: Request) -> Response:
    visit = await patron_visit(request)
    return await _page(visit, saved=request.query_params.get("saved") == "1")


@router.post("/my-data")
async def save_my_data(request: Request) -> Response:
    visit = await patron_visit(request)
    form = await read_form(request)
    # Every personal field in the form is handed on, so a field the patron does not own is
    # refused by the service (R8, R9) rather than silently dropped.
    changes: dict[str, object] = {
        c: (form.get(c).strip() or None) for c in COLUMN_TO_FIELD if form.has(c)
    }
    try:
        visit.check_csrf(form.get("csrf"))
        if isinstance(changes.get("birth_date"), str):
            changes["birth_date"] = _birth_date(str(changes["birth_date"]))
        async with visit.unit() as ctx:
            await update_patron(ctx, visit.me, changes)
    except LibcardError as error:
        return await _page(
            visit,
            status=error.status,
            error=message_for(error, visit.language),
            error_field=error.details.get("field") or FIELD_OF_ERROR.get(error.code),
            submitted=changes,
        )
    return redirect(visit, "/my-data?saved=1")
