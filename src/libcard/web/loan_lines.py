"""A patron's loans as the portal, the desk and the API show them: each loan with its item.

Read inside the caller's unit of work. The loans service answers with loans and their items;
the few loans returned lately are read here, with a limit.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import select

from libcard.context import Ctx
from libcard.loans.models import Item, Loan
from libcard.loans.rules import is_overdue
from libcard.loans.service import items_of, loans_of
from libcard.patrons.service import get_patron

# "Returned lately": what a patron or the desk may still ask about, without the whole history.
RECENT_DAYS = 30
RECENT_LIMIT = 10


@dataclass(frozen=True)
class LoanLine:
    loan: Loan
    item: Item
    overdue: bool  # open and past its due date now, or returned after it

    @property
    def open(self) -> bool:
        return self.loan.returned_at is None


def overdue_at(loan: Loan, now: datetime) -> bool:
    return is_overdue(loan.due_at, loan.returned_at or now)


async def lines_of(ctx: Ctx, loans: Sequence[Loan]) -> list[LoanLine]:
    """The loans with their items, in the order given."""
    items = await items_of(ctx, loans)
    now = ctx.clock.now()
    return [LoanLine(loan, items[loan.item_id], overdue_at(loan, now)) for loan in loans]


async def open_lines(ctx: Ctx, patron_id: int) -> list[LoanLine]:
    """The patron's open loans, soonest due first; "not found" for a patron not visible."""
    return await lines_of(ctx, await loans_of(ctx, patron_id))


async def recent_returns(ctx: Ctx, patron_id: int) -> list[LoanLine]:
    """Loans returned in the last RECENT_DAYS days, latest first, at most RECENT_LIMIT."""
    await get_patron(ctx, patron_id)  # "not found" for a patron the actor may not see
    since = ctx.clock.now() - timedelta(days=RECENT_DAYS)
    query = (
        select(Loan)
        .where(Loan.patron_id == patron_id, Loan.returned_at >= since)
        .order_by(Loan.returned_at.desc(), Loan.id.desc())
        .limit(RECENT_LIMIT)
    )
    return await lines_of(ctx, list((await ctx.session.scalars(query)).all()))
