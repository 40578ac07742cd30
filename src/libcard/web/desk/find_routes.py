"""The desk's start page: find a patron by scanning a card, or by name, e-mail or birth date."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

from babel.dates import format_date
from fastapi import APIRouter, Request
from fastapi.responses import Response

from libcard.cards.models import Card
from libcard.cards.rules import CardState
from libcard.cards.service import cards_of, find_card, state_now
from libcard.errors import InvalidInput, LibcardError
from libcard.kit.i18n import LOCALES, N_
from libcard.patrons.models import Patron
from libcard.patrons.service import search_patrons
from libcard.policy.service import list_groups
from libcard.web.desk.render import add_messages, form_error, redirect, render
from libcard.web.desk.visit import DeskVisit, staff_visit

router = APIRouter(include_in_schema=False)

# One page of results; one more is asked for, to know whether to say "narrow the search".
RESULT_LIMIT = 50

add_messages(
    {
        "card_number_format": N_(
            "This is not a card number of this library. Scan the card again, or check the number."
        ),
        "card_number_check_digit": N_(
            "The card number's check digit is wrong: a digit was mistyped or misread. "
            "Scan the card again, or check the number."
        ),
        "card_not_found": N_(
            "No card of this library has this number. Check the number, or find the patron "
            "by name below."
        ),
        "search_empty": N_("Fill in a name, an e-mail or a date of birth, then search."),
        "search_birth_date": N_("Write the date of birth as YYYY-MM-DD, like 1990-03-24."),
    }
)


def birth_day(value: date | None, language: str) -> str:
    """A birth date as people read it; it is a calendar date, so no time zone applies."""
    if value is None:
        return ""
    return format_date(value, format="long", locale=LOCALES.get(language, "en_GB"))


@dataclass(frozen=True)
class Found:
    """One line of the search results."""

    patron: Patron
    group_name: str
    birth_date: str
    cards: list[tuple[Card, CardState]]


@router.get("/desk")
async def home(request: Request) -> Response:
    visit = await staff_visit(request)
    return render(visit, "desk/home.html", card="", search={})


@router.get("/desk/find")
async def find_by_card(request: Request) -> Response:
    """A scanned (or typed) card number opens its owner's account at once."""
    visit = await staff_visit(request)
    raw = request.query_params.get("card", "")[:100]
    try:
        async with visit.unit(readonly=True) as ctx:
            card = await find_card(ctx, raw)
    except LibcardError as error:
        # The number stays in the field, selected by the scanner's next read or corrected.
        return form_error(visit, "desk/home.html", error, card=raw, search={})
    # The patron view says whether the card itself may be used (lost, stolen, expired …).
    return redirect(visit, f"/desk/patrons/{card.patron_id}?scanned={card.id}")


def _search_date(text: str) -> date | None:
    if not text:
        return None
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise InvalidInput("search_birth_date", "A birth date is YYYY-MM-DD.") from None


@router.get("/desk/search")
async def search(request: Request) -> Response:
    visit = await staff_visit(request)
    query = {
        key: request.query_params.get(key, "").strip()[:200]
        for key in ("name", "email", "birth_date")
    }
    try:
        if not any(query.values()):
            raise InvalidInput("search_empty", "Give a name, an e-mail or a birth date.")
        born = _search_date(query["birth_date"])
        found, more = await _search(visit, query["name"], query["email"], born)
    except LibcardError as error:
        return form_error(visit, "desk/find_results.html", error, search=query, results=None)
    return render(
        visit,
        "desk/find_results.html",
        search=query,
        results=found,
        more=more,
        limit=RESULT_LIMIT,
    )


async def _search(
    visit: DeskVisit, name: str, email: str, born: date | None
) -> tuple[list[Found], bool]:
    institution_id = visit.staff.institution_id
    async with visit.unit(readonly=True) as ctx:
        patrons = await search_patrons(
            ctx,
            institution_id,
            name=name or None,
            email=email or None,
            birth_date=born,
            limit=RESULT_LIMIT + 1,
        )
        groups = {group.id: group.name for group in await list_groups(ctx, institution_id)}
        found = [
            Found(
                patron,
                groups.get(patron.group_id, ""),
                birth_day(patron.birth_date, visit.language),
                [(card, state_now(ctx, card)) for card in await cards_of(ctx, patron.id)],
            )
            for patron in patrons[:RESULT_LIMIT]
        ]
    return found, len(patrons) > RESULT_LIMIT
