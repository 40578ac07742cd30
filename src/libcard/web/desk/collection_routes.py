"""A patron's collection cases at the desk (R14d, R15): state, amount, deadline and agency,
the printable notice letter, and recalling a case (staff, with a reason)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from babel import Locale
from fastapi import APIRouter, Request
from fastapi.responses import Response
from markupsafe import Markup

from libcard.collection import workflow
from libcard.collection.models import CollectionCase
from libcard.collection.notices import letter_language, notice_letter, pay_url_of
from libcard.collection.rules import ACTIVE_STATES, CaseState
from libcard.collection.service import get_case, list_cases
from libcard.context import Ctx
from libcard.errors import InvalidInput, LibcardError, NotFound
from libcard.kit.i18n import LOCALES, N_
from libcard.patrons.models import Patron
from libcard.patrons.service import get_patron
from libcard.policy.models import Institution
from libcard.web.api.deps import IdPath
from libcard.web.desk.render import add_messages, error_page, form_error, redirect, render
from libcard.web.desk.visit import DeskVisit, staff_visit
from libcard.web.portal.forms import read_form
from libcard.web.portal.render import environment

router = APIRouter(include_in_schema=False)

# The library's own country is left off a letter's address.
HOME_COUNTRY = "DK"

STATE_LABELS: dict[str, str] = {
    CaseState.NOTICE_SENT.value: N_("Notice sent"),
    CaseState.SETTLED.value: N_("Paid before the deadline"),
    CaseState.CANCELLED.value: N_("Cancelled: collection was turned off"),
    CaseState.HANDED_OVER.value: N_("With the collection agency"),
    CaseState.PAID_IN_FULL.value: N_("Paid in full to the agency"),
    CaseState.RECALLED.value: N_("Recalled"),
}

add_messages(
    {
        "case_not_found": N_("There is no such collection case for this patron."),
        "case_closed": N_("This collection case is closed already. Nothing was changed."),
        "forbidden_collection": N_("Your role does not allow this."),
    }
)
RECALL_REASON_REQUIRED = "recall_reason_required"
add_messages(
    {
        RECALL_REASON_REQUIRED: N_(
            "Give the reason for the recall: it is kept in the account's history. "
            "Nothing was changed."
        )
    }
)


@dataclass(frozen=True)
class CaseItem:
    case: CollectionCase
    state_label: str
    may_recall: bool
    has_letter: bool


async def _patron_cases(ctx: Ctx, patron_id: int) -> tuple[Patron, list[CaseItem]]:
    patron = await get_patron(ctx, patron_id)
    cases = await list_cases(ctx, patron_id=patron.id, limit=500)
    items = [
        CaseItem(
            case,
            STATE_LABELS.get(case.state, case.state),
            case.state in ACTIVE_STATES,
            case.notice_sent_at is not None,
        )
        for case in reversed(cases)  # newest first
    ]
    return patron, items


async def _cases_page(
    visit: DeskVisit, patron_id: int, error: LibcardError | None = None, **values: Any
) -> Response:
    async with visit.unit(readonly=True) as ctx:
        patron, items = await _patron_cases(ctx, patron_id)
    page = {"patron": patron, "cases": items, "submitted": {}, "open_form": None, **values}
    if error is not None:
        return form_error(visit, "desk/collection.html", error, **page)
    return render(visit, "desk/collection.html", **page)


@router.get("/desk/patrons/{patron_id}/collection")
async def cases_page(request: Request, patron_id: IdPath) -> Response:
    visit = await staff_visit(request)
    return await _cases_page(visit, patron_id, done=request.query_params.get("done"))


async def _case_of(ctx: Ctx, patron_id: int, case_id: int) -> CollectionCase:
    case = await get_case(ctx, case_id)
    if case.patron_id != patron_id:
        raise NotFound("case_not_found", f"No collection case {case_id} for this patron.")
    return case


@router.post("/desk/patrons/{patron_id}/collection/{case_id}/recall")
async def recall(request: Request, patron_id: IdPath, case_id: IdPath) -> Response:
    """Take a case back from the agency, or withdraw a notice: the block lifts, the fees stay."""
    visit = await staff_visit(request)
    form = await read_form(request)
    reason = " ".join(form.get("reason").split())
    try:
        visit.check_csrf(form.get("csrf"))
        if not reason:
            raise InvalidInput(RECALL_REASON_REQUIRED, "Give the reason for the recall.")
        async with visit.unit(reason=reason) as ctx:
            await _case_of(ctx, patron_id, case_id)
            await workflow.recall(ctx, case_id, reason)
    except LibcardError as error:
        return await _cases_page(
            visit, patron_id, error, open_form=f"recall-{case_id}", submitted=form.values
        )
    return redirect(visit, f"/desk/patrons/{patron_id}/collection?done=recalled")


def _country_name(code: str | None, language: str) -> str | None:
    if code is None or code == HOME_COUNTRY:
        return None
    return str(Locale.parse(LOCALES[language]).territories.get(code, code))


@router.get("/desk/patrons/{patron_id}/collection/{case_id}/letter")
async def letter(request: Request, patron_id: IdPath, case_id: IdPath) -> Response:
    """The notice as a letter to print and post, in the patron's language, with what the
    mail said."""
    visit = await staff_visit(request)
    try:
        async with visit.unit(readonly=True) as ctx:
            case = await _case_of(ctx, patron_id, case_id)
            patron = await get_patron(ctx, patron_id)
            institution = await ctx.session.get(Institution, case.institution_id)
            assert institution is not None  # foreign key
    except LibcardError as error:
        return error_page(visit, error)
    if case.notice_sent_at is None:
        return error_page(visit, NotFound("case_not_found", "This case had no notice."))
    language = letter_language(patron, institution)
    content = notice_letter(
        case, patron, institution, language, pay_url_of(visit.runtime.settings.public_url)
    )
    template = environment(language).get_template("desk/collection_letter.html")
    context = template.new_context(
        {
            "case": case,
            "patron": patron,
            "institution": institution,
            "timezone": institution.timezone,
            "content": content,
            "country": _country_name(patron.country, language),
        }
    )
    # The template's `letter` block alone, in the patron's language; the page around it is
    # in the staff member's.
    body = Markup("".join(template.blocks["letter"](context)))  # noqa: S704 — autoescaped
    return render(visit, "desk/collection_letter.html", case=case, patron=patron, letter_body=body)
