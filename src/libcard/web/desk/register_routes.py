"""Registering a new patron at the desk (R1, R2, R3) and the printed activation letter: the
account, its e-card and a one-time code the patron activates with at <public_url>/activate.

The code is kept only as a digest, so the letter is the answer to the POST that made it; a
lost letter is replaced by a new one, which stops the old code from working."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from babel import Locale
from fastapi import APIRouter, Request
from fastapi.responses import Response
from markupsafe import Markup

from libcard.accounts.portal import AccountView, account_view
from libcard.accounts.service import issue_activation, register_patron
from libcard.cards.rules import CardKind, CardState
from libcard.context import Ctx
from libcard.errors import InvalidInput, LibcardError, NotFound, RuleViolation
from libcard.kit.i18n import LOCALES, N_, translate
from libcard.notify.service import MailLinks, mail_language
from libcard.patrons.models import Patron
from libcard.policy.models import Institution, PatronGroup
from libcard.policy.rules import PERSONAL_FIELDS, may_write
from libcard.policy.service import list_groups, policy_of
from libcard.web.api.deps import IdPath
from libcard.web.desk.render import add_messages, error_page, form_error, message_for, render
from libcard.web.desk.visit import DeskVisit, staff_visit
from libcard.web.portal.forms import Form, read_form
from libcard.web.portal.render import environment

router = APIRouter(include_in_schema=False)

FIELDS = (
    "first_name",
    "last_name",
    "birth_date",
    "email",
    "phone",
    "street",
    "postal_code",
    "city",
    "country",
    "preferred_language",
)
# At the desk the patron stands there with a photo ID: the address goes on the letter.
REQUIRED = ("first_name", "last_name", "birth_date", "street", "postal_code", "city", "country")
# What the desk fills in; a group is offered only if the desk may write every one of them.
DESK_WRITES = ("name", "birth_date", "address", "email", "phone", "preferred_language")
DEFAULT_GROUP = "external"
DEFAULT_COUNTRY = "DK"
# Which form field a refusal concerns, where the error does not say.
FIELD_OF_ERROR = {
    "email_format": "email",
    "email_in_use": "email",
    "birth_date_format": "birth_date",
    "birth_date_future": "birth_date",
    "country_format": "country",
    "language": "preferred_language",
    "patron_group": "group",
    "group_not_found": "group",
}

# Where registering deserves more help than the desk's shared text for a code.
REGISTER_TEXTS = {
    "email_in_use": N_(
        "Another account of this library uses this e-mail. The patron may be registered "
        "already: search for them first."
    ),
}

add_messages(
    {
        "email_format": N_("This is not an e-mail address. Correct it, or leave the field empty."),
        "email_in_use": N_("Another account of this library uses this e-mail address."),
        "birth_date_format": N_("Write the date of birth as YYYY-MM-DD."),
        "birth_date_future": N_("The date of birth cannot be in the future."),
        "field_required": N_("Fill in every field that is not marked optional."),
        "field_too_long": N_("A text is too long; shorten the field that is marked."),
        "country_format": N_("A country is a two-letter code, like DK or DE."),
        "language": N_("Choose Danish, German or English."),
        "patron_group": N_("Choose one of the groups offered."),
        "group_not_found": N_("Choose one of the groups offered."),
        "field_not_yours": N_("The desk may not fill in this field for this group."),
        "forbidden_create": N_("Your role may not register patrons."),
        "forbidden_activation": N_("Your role may not make activation letters."),
        "already_activated": N_(
            "This patron has activated the account already, so no letter is needed. They log "
            "in with their password, or reset it from the login page."
        ),
        "no_card_to_activate": N_(
            "This account has no card that can be activated. Issue a card first."
        ),
    }
)


@dataclass(frozen=True)
class Letter:
    """What goes on an activation letter; the code exists only in this one answer."""

    patron: Patron
    institution: Institution
    card_number: str
    code: str
    issued_at: datetime
    valid_until: datetime


async def _offered_groups(ctx: Ctx, institution: Institution) -> list[PatronGroup]:
    """Groups whose personal data the desk owns (not the student registry's, say): external
    first, as most registrations at a desk are."""
    groups = [
        group
        for group in await list_groups(ctx, institution.id)
        if all(
            may_write(policy_of(institution, group).owner_of(name), ctx.actor.kind)
            for name in DESK_WRITES
        )
    ]
    return sorted(groups, key=lambda group: group.code != DEFAULT_GROUP)


def _institution(visit: DeskVisit) -> Institution:
    assert visit.institution is not None  # a verified staff member has one
    return visit.institution


async def _register_page(
    visit: DeskVisit, values: dict[str, str], error: LibcardError | None = None
) -> Response:
    async with visit.unit(readonly=True) as ctx:
        groups = await _offered_groups(ctx, _institution(visit))
    page: dict[str, Any] = {"values": values, "groups": groups}
    if error is None:
        return render(visit, "desk/register.html", invalid=set(), **page)
    field = str(error.details.get("field") or FIELD_OF_ERROR.get(error.code) or "")
    # A personal field named by the service (R8's "address", say) marks all its inputs.
    invalid = set(PERSONAL_FIELDS.get(field, (field,)))
    if error.code in REGISTER_TEXTS:
        text = translate(visit.language, REGISTER_TEXTS[error.code])
        return render(
            visit,
            "desk/register.html",
            status=error.status,
            error=text,
            error_code=error.code,
            invalid=invalid,
            **page,
        )
    return form_error(visit, "desk/register.html", error, invalid=invalid, **page)


def _defaults(visit: DeskVisit) -> dict[str, str]:
    values = dict.fromkeys(FIELDS, "")
    values.update(
        country=DEFAULT_COUNTRY,
        preferred_language=_institution(visit).default_language,
        group=DEFAULT_GROUP,
        note="",
    )
    return values


def _birth_date(text: str, today: date) -> date:
    try:
        born = date.fromisoformat(text)
    except ValueError:
        raise InvalidInput("birth_date_format", "A birth date is YYYY-MM-DD.") from None
    if born > today:
        raise InvalidInput("birth_date_future", "A birth date lies in the past.")
    return born


def _fields(values: dict[str, str], today: date) -> dict[str, Any]:
    for column in REQUIRED:
        if not values[column]:
            raise InvalidInput("field_required", f"{column} is required.", field=column)
    fields: dict[str, Any] = {column: values[column] or None for column in FIELDS}
    fields["birth_date"] = _birth_date(values["birth_date"], today)
    return fields


def _submitted(form: Form) -> dict[str, str]:
    values = {name: form.get(name).strip() for name in (*FIELDS, "group", "note")}
    values["country"] = values["country"].upper()
    values["group"] = values["group"] or DEFAULT_GROUP
    return values


@router.get("/desk/register")
async def register_page(request: Request) -> Response:
    visit = await staff_visit(request)
    return await _register_page(visit, _defaults(visit))


@router.post("/desk/register")
async def register(request: Request) -> Response:
    """R1–R3: the patron, an e-card, and an activation code printed on the answer's letter."""
    visit = await staff_visit(request)
    form = await read_form(request)
    values = _submitted(form)
    institution = _institution(visit)
    try:
        visit.check_csrf(form.get("csrf"))
        async with visit.unit(reason=values["note"]) as ctx:
            fields = _fields(values, ctx.clock.now().date())
            if values["group"] not in {g.code for g in await _offered_groups(ctx, institution)}:
                raise InvalidInput("patron_group", "The desk cannot register this group.")
            registration = await register_patron(ctx, institution.id, values["group"], fields)
            token, code = await issue_activation(ctx, registration.patron.id, "letter")
            assert registration.ecard.number is not None  # e-card numbers are the library's
            letter = Letter(
                registration.patron,
                institution,
                registration.ecard.number,
                code,
                token.created_at,
                token.expires_at,
            )
    except LibcardError as error:
        return await _register_page(visit, values, error)
    return _letter_page(visit, letter, registered=True)


def _card_to_activate(view: AccountView) -> str:
    """The number the patron types with the code: the e-card's, which every account has (R3)."""
    ready = [
        card_view.card
        for card_view in view.cards
        if card_view.card.number and card_view.state is CardState.NOT_ACTIVATED
    ]
    ready.sort(key=lambda card: card.kind != CardKind.ECARD)
    if not ready or ready[0].number is None:
        raise RuleViolation("no_card_to_activate", "This account has no card to activate.")
    return ready[0].number


@router.post("/desk/patrons/{patron_id}/activation-letter")
async def new_letter(request: Request, patron_id: IdPath) -> Response:
    """A new code for a patron who has not activated yet; the earlier codes stop working."""
    visit = await staff_visit(request)
    form = await read_form(request)
    try:
        visit.check_csrf(form.get("csrf"))
        async with visit.unit(reason=form.get("reason")) as ctx:
            token, code = await issue_activation(ctx, patron_id, "letter")
            view = await account_view(ctx, patron_id)
            letter = Letter(
                view.patron,
                view.institution,
                _card_to_activate(view),
                code,
                token.created_at,
                token.expires_at,
            )
    except NotFound as error:
        return error_page(visit, error)
    except LibcardError as error:
        return render(
            visit,
            "desk/activation_letter.html",
            status=error.status,
            error=message_for(error, visit.language),
            patron_id=patron_id,
        )
    return _letter_page(visit, letter, registered=False)


def _country_name(code: str | None, language: str) -> str | None:
    """The country's name in the letter's language; none for the library's own country."""
    if code is None or code == DEFAULT_COUNTRY:
        return None
    return str(Locale.parse(LOCALES[language]).territories.get(code, code))


def _letter_page(visit: DeskVisit, letter: Letter, *, registered: bool) -> Response:
    """The desk page in the staff member's language around the letter in the patron's."""
    language = mail_language(
        letter.patron.preferred_language or letter.institution.default_language
    )
    template = environment(language).get_template("desk/activation_letter.html")
    context = template.new_context(
        {
            "letter": letter,
            "patron": letter.patron,
            "institution": letter.institution,
            "timezone": letter.institution.timezone,
            "activate_url": MailLinks(visit.runtime.settings.public_url).activate,
            "country": _country_name(letter.patron.country, language),
        }
    )
    # The template's `letter` block alone, rendered by the patron's language's environment.
    body = Markup("".join(template.blocks["letter"](context)))  # noqa: S704 — autoescaped
    return render(
        visit,
        "desk/activation_letter.html",
        letter=letter,
        letter_body=body,
        registered=registered,
    )
