"""What changes a patron's blocks in collection: the hand-over after the notice, and the
reports that close a case. Each tells the patron of the blocks it placed or lifted.

This module sits above `blocks` (like `accounts`): it reads the blocks before and after the
change and hands both to `blocks.mail.mail_block_changes`, in the same transaction.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from datetime import datetime

from sqlalchemy import select

from libcard.audit.service import record_on
from libcard.blocks.mail import mail_block_changes
from libcard.blocks.service import blocks_of
from libcard.collection import service
from libcard.collection.models import CollectionCase
from libcard.collection.notices import CollectionReport, check_run
from libcard.collection.rules import CaseState, ClosedReason, after_notice
from libcard.context import SYSTEM_ACTOR, Ctx
from libcard.errors import LibcardError
from libcard.fees.service import ledger_of
from libcard.patrons.service import get_patron, get_patron_for_update
from libcard.policy.models import Institution

logger = logging.getLogger(__name__)


async def _telling_the_patron(
    ctx: Ctx, patron_id: int, change: Callable[[], Awaitable[CollectionCase]]
) -> CollectionCase:
    """Run `change` and mail the patron the blocks it placed or lifted."""
    before, _ = await blocks_of(ctx, patron_id)
    case = await change()
    after, _ = await blocks_of(ctx, patron_id)
    await mail_block_changes(ctx, await get_patron(ctx, patron_id), before, after)
    return case


async def report_paid_in_full(
    ctx: Ctx, case_id: int, *, reference: str | None = None, paid_at: datetime | None = None
) -> CollectionCase:
    case = await service.get_case(ctx, case_id)
    return await _telling_the_patron(
        ctx,
        case.patron_id,
        lambda: service.report_paid_in_full(ctx, case_id, reference=reference, paid_at=paid_at),
    )


async def recall(ctx: Ctx, case_id: int, reason: str) -> CollectionCase:
    case = await service.get_case(ctx, case_id)
    return await _telling_the_patron(
        ctx, case.patron_id, lambda: service.recall(ctx, case_id, reason)
    )


# --- the hand-over job ---------------------------------------------------------------------


async def _due_cases(ctx: Ctx, now: datetime, after_id: int, limit: int | None) -> list[int]:
    query = (
        select(CollectionCase.id)
        .where(
            CollectionCase.state == CaseState.NOTICE_SENT.value,
            CollectionCase.notice_deadline < now,
            CollectionCase.id > after_id,
        )
        .order_by(CollectionCase.id)
    )
    if limit is not None:
        query = query.limit(limit)
    return list((await ctx.session.scalars(query)).all())


async def _hand_over_one(ctx: Ctx, case_id: int, now: datetime, report: CollectionReport) -> None:
    probe = await ctx.session.get(CollectionCase, case_id)
    assert probe is not None  # just listed
    patron = await get_patron_for_update(ctx, probe.patron_id)
    case = await ctx.session.get(CollectionCase, case_id, populate_existing=True)
    assert case is not None
    if case.state != CaseState.NOTICE_SENT.value:
        return  # recalled or handled meanwhile
    institution = await ctx.session.get(Institution, case.institution_id)
    assert institution is not None  # foreign key
    noticed = sum(
        min(line.noticed_minor, line.outstanding_minor)
        for line in await service.case_fees(ctx, case)
    )
    debt = (await ledger_of(ctx, patron.id)).balance_minor
    decision = after_notice(
        noticed, debt, institution.collection_min_debt_minor, institution.collection_agency
    )
    if not decision.hand_over:
        assert decision.reason is not None
        cancelled = decision.reason is ClosedReason.COLLECTION_OFF
        case.state = (CaseState.CANCELLED if cancelled else CaseState.SETTLED).value
        case.closed_at, case.closed_reason = now, decision.reason.value
        await record_on(ctx, "collection:settle", case, reason=decision.reason.value)
        if cancelled:
            report.cancelled += 1
        else:
            report.settled += 1
        return

    async def hand_over() -> CollectionCase:
        case.state, case.handed_over_at = CaseState.HANDED_OVER.value, now
        case.amount_minor = decision.amount_minor
        case.agency = institution.collection_agency
        await ctx.session.flush()
        await record_on(
            ctx,
            "collection:hand_over",
            case,
            amount_minor=case.amount_minor,
            currency=case.currency,
            agency=case.agency,
        )
        return case

    await _telling_the_patron(ctx, patron.id, hand_over)
    report.handed_over += 1


async def hand_over_due(
    ctx: Ctx, now: datetime, *, after_id: int = 0, limit: int | None = None
) -> CollectionReport:
    """Every case whose notice deadline has passed: handed to the agency with what is still
    owed on the noticed fees, or closed as settled when the patron has paid (or the debt is
    below the minimum), or cancelled when the institution has stopped collection."""
    check_run(ctx, now)
    system = ctx.as_actor(SYSTEM_ACTOR)
    report = CollectionReport()
    for case_id in await _due_cases(system, now, after_id, limit):
        report.seen += 1
        report.last_id = case_id
        try:
            async with system.session.begin_nested():
                await _hand_over_one(system, case_id, now, report)
        except LibcardError as error:
            report.failures += 1
            logger.warning("hand-over of collection case %s refused: %s", case_id, error.message)
        except Exception:
            report.failures += 1
            logger.exception("hand-over of collection case %s failed; others go on", case_id)
    return report
