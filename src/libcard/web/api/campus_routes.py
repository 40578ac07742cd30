"""The campus card system's routes: employee badges lost, blocked, replaced, linked (R10, R11).

Only a token of actor kind `campus_card` with the scope `campus_card`, bound to its
institution, calls these; another institution's badge answers 404 like a number never issued.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Path
from pydantic import BaseModel, Field, StringConstraints

from libcard.access.scopes import Scope
from libcard.accounts import badges
from libcard.web.api import schemas as s
from libcard.web.api.deps import ApiDep
from libcard.web.api.views import card_out

router = APIRouter(prefix="/campus", tags=["campus card"])

BadgeNumber = Annotated[str, Path(min_length=1, max_length=40, description="The badge number.")]
IdentityId = Annotated[
    str, Path(min_length=1, max_length=64, description="The employee's id at the identity portal.")
]


class BadgeOut(s.CardOut):
    patron_id: int
    identity_id: str | None = Field(description="The holder's id at the identity portal.")


class BadgeNumberIn(s.Strict):
    number: Annotated[str, StringConstraints(min_length=1, max_length=40)] = Field(
        description="The badge number the campus card system issued: 1–32 letters or digits "
        "(spaces and dashes are ignored), outside the library's own card series."
    )


class BadgeReplacementOut(BaseModel):
    old: BadgeOut = Field(description="The old badge, refused from now on (state `replaced`).")
    new: BadgeOut


FORBIDDEN: dict[int | str, dict[str, Any]] = {
    403: {"description": "Not a campus card token, or the scope is missing."}
}
NOT_A_BADGE: dict[int | str, dict[str, Any]] = {
    404: {"description": "No badge with this number in the token's institution."},
    409: {"description": "The number is another kind of card (`not_an_employee_badge`)."},
}


def badge_out(badge: badges.Badge) -> BadgeOut:
    card = card_out(badge.card, badge.state)
    return BadgeOut(
        **card.model_dump(), patron_id=badge.employee.id, identity_id=badge.employee.identity_id
    )


@router.post(
    "/badges/{number}/lost", response_model=BadgeOut, responses={**FORBIDDEN, **NOT_A_BADGE}
)
async def report_lost(api: ApiDep, number: BadgeNumber) -> BadgeOut:
    """R10: the badge was lost. From now on its number is refused everywhere (status, SIP2,
    the desk) and its use is logged for staff as possible misuse; the employee's e-card and
    other cards keep working, and the employee is mailed. A badge refused already (lost,
    blocked, replaced, expired) is answered as it is, unchanged."""
    async with api.unit(Scope.CAMPUS_CARD) as ctx:
        return badge_out(await badges.report_badge_lost(ctx, number))


@router.post(
    "/badges/{number}/blocked", response_model=BadgeOut, responses={**FORBIDDEN, **NOT_A_BADGE}
)
async def block(api: ApiDep, number: BadgeNumber) -> BadgeOut:
    """The campus card system blocked the badge. It is refused as a lost badge is (state
    `lost`, for good; its use logged as possible misuse), recorded as a block, and the
    employee gets no "card lost" mail. A badge refused already is answered unchanged."""
    async with api.unit(Scope.CAMPUS_CARD) as ctx:
        return badge_out(await badges.block_badge(ctx, number))


@router.post(
    "/badges/{number}/replacement",
    response_model=BadgeReplacementOut,
    status_code=201,
    responses={
        **FORBIDDEN,
        404: NOT_A_BADGE[404],
        409: {
            "description": "`card_number_in_use`: the new number is another card's; "
            "`card_replaced`: the old badge was replaced by another number already; "
            "`not_an_employee_badge`, `not_an_employee`, `account_closed`."
        },
        422: {"description": "The new number is malformed or in the library's own series."},
    },
)
async def replace(api: ApiDep, number: BadgeNumber, body: BadgeNumberIn) -> BadgeReplacementOut:
    """R11: the employee got a new badge. The old number is refused at once (`replaced`);
    the new badge belongs to the same employee, active when the account is, and costs
    nothing. The same request again answers the same, with one new badge only."""
    async with api.unit(Scope.CAMPUS_CARD) as ctx:
        result = await badges.replace_badge(ctx, number, body.number)
        return BadgeReplacementOut(old=badge_out(result.old), new=badge_out(result.new))


@router.post(
    "/employees/{identity_id}/badges",
    response_model=BadgeOut,
    status_code=201,
    responses={
        **FORBIDDEN,
        404: {"description": "No employee with this identity id in the token's institution."},
        409: {
            "description": "`card_number_in_use`, `badge_exists` (replace it instead), "
            "`not_an_employee`, `account_closed`."
        },
        422: {"description": "The number is malformed or in the library's own series."},
    },
)
async def link(api: ApiDep, identity_id: IdentityId, body: BadgeNumberIn) -> BadgeOut:
    """An employee's first badge, the employee found by their identity portal id. The same
    request again answers the same badge."""
    async with api.unit(Scope.CAMPUS_CARD) as ctx:
        return badge_out(await badges.link_badge(ctx, identity_id, body.number))
