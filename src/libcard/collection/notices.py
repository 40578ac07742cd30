"""The collection notice (R15): one week (policy) to pay before the debt goes to the agency.

`send_notices` is the daily job's work. A patron gets a notice when their institution names an
agency, their open debt reaches `collection_min_debt_minor`, its oldest fee has been open
`collection_min_age_days` days, and no case of theirs is running. The case remembers the fees
it covers and what was owed on each, so the hand-over collects those and nothing newer. A
patron with a running case is skipped, so a second run on the same day changes nothing.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, fields
from datetime import datetime, timedelta

from sqlalchemy import and_, exists, or_, select

from libcard.audit.service import record_on
from libcard.collection.models import CollectionCase, CollectionCaseFee
from libcard.collection.rules import (
    ACTIVE_STATES,
    FEES_TAKEN,
    CaseState,
    DebtLine,
    notice_deadline,
    notice_due,
)
from libcard.context import SYSTEM_ACTOR, ActorKind, Ctx
from libcard.errors import Forbidden, InvalidInput, LibcardError
from libcard.fees.models import Fee
from libcard.fees.service import fee_views
from libcard.kit.i18n import day, money
from libcard.notify.service import mail_language, queue_mail
from libcard.patrons.models import Patron
from libcard.patrons.service import get_patron_for_update
from libcard.policy.models import Institution

logger = logging.getLogger(__name__)


@dataclass
class CollectionReport:
    """What a run did, for the job's record and the command line."""

    patrons_checked: int = 0
    notices: int = 0
    mails: int = 0
    handed_over: int = 0
    settled: int = 0
    cancelled: int = 0
    failures: int = 0
    # Where a run in batches goes on: the rows looked at and the last one's id.
    seen: int = 0
    last_id: int = 0

    def add(self, other: CollectionReport) -> None:
        for name in (f.name for f in fields(self)):
            if name != "last_id":
                setattr(self, name, getattr(self, name) + getattr(other, name))
        self.last_id = max(self.last_id, other.last_id)

    def summary(self) -> str:
        shown = [f.name for f in fields(self) if f.name not in ("seen", "last_id")]
        return ", ".join(f"{name.replace('_', ' ')}: {getattr(self, name)}" for name in shown)


def check_run(ctx: Ctx, now: datetime) -> None:
    if ctx.actor.kind is not ActorKind.SYSTEM:
        raise Forbidden("forbidden_job", "Only libcard itself runs the collection jobs.")
    if now.tzinfo is None:
        raise InvalidInput("naive_time", "Give the time with its time zone (UTC inside).")


@dataclass(frozen=True)
class NoticeLetter:
    """What the notice says, the mail's values and the printed letter's alike."""

    patron_name: str
    institution_name: str
    amount: str
    deadline: str
    pay_url: str
    agency: str

    def values(self) -> dict[str, object]:
        return {f.name: getattr(self, f.name) for f in fields(self)}


def notice_letter(
    case: CollectionCase, patron: Patron, institution: Institution, language: str, pay_url: str
) -> NoticeLetter:
    deadline = case.notice_deadline or case.created_at
    return NoticeLetter(
        patron_name=f"{patron.first_name} {patron.last_name}",
        institution_name=institution.name,
        amount=money(case.amount_minor, case.currency, language),
        deadline=day(deadline, language, institution.timezone),
        pay_url=pay_url,
        agency=case.agency or "",
    )


def pay_url_of(public_url: str) -> str:
    return public_url.rstrip("/") + "/pay"


def letter_language(patron: Patron, institution: Institution) -> str:
    return mail_language(patron.preferred_language or institution.default_language)


async def _candidates(ctx: Ctx, now: datetime, after_id: int, limit: int | None) -> list[int]:
    """Patrons of institutions with an agency, with a fee old enough to matter and no case
    running; the exact test is `rules.notice_due`, per patron."""
    institutions = (
        await ctx.session.scalars(
            select(Institution).where(Institution.collection_agency.is_not(None))
        )
    ).all()
    if not institutions:
        return []
    # A day of slack: the rule counts local calendar days, not hours.
    old_enough = or_(
        *(
            and_(
                Fee.institution_id == institution.id,
                Fee.created_at <= now - timedelta(days=institution.collection_min_age_days - 1),
            )
            for institution in institutions
        )
    )
    running = exists().where(
        CollectionCase.patron_id == Fee.patron_id, CollectionCase.state.in_(ACTIVE_STATES)
    )
    query = (
        select(Fee.patron_id)
        .where(old_enough, Fee.patron_id > after_id, ~running)
        .group_by(Fee.patron_id)
        .order_by(Fee.patron_id)
    )
    if limit is not None:
        query = query.limit(limit)
    return list((await ctx.session.scalars(query)).all())


async def _debt_lines(ctx: Ctx, patron_id: int) -> list[DebtLine]:
    """The patron's open fees that no case has taken (see rules.FEES_TAKEN)."""
    taken = set(
        (
            await ctx.session.scalars(
                select(CollectionCaseFee.fee_id)
                .join(CollectionCase, CollectionCase.id == CollectionCaseFee.case_id)
                .where(CollectionCase.patron_id == patron_id, CollectionCase.state.in_(FEES_TAKEN))
            )
        ).all()
    )
    return [
        DebtLine(view.fee.id, view.fee.created_at, view.status.outstanding_minor)
        for view in await fee_views(ctx, patron_id)
        if view.status.outstanding_minor > 0 and view.fee.id not in taken
    ]


async def _notice_one(
    ctx: Ctx, patron_id: int, now: datetime, pay_url: str, report: CollectionReport
) -> None:
    patron = await get_patron_for_update(ctx, patron_id)
    institution = await ctx.session.get(Institution, patron.institution_id)
    assert institution is not None  # foreign key
    agency = institution.collection_agency
    if agency is None:
        return
    running = await ctx.session.scalar(
        select(CollectionCase.id).where(
            CollectionCase.patron_id == patron.id, CollectionCase.state.in_(ACTIVE_STATES)
        )
    )
    if running is not None:
        return
    report.patrons_checked += 1
    lines = await _debt_lines(ctx, patron.id)
    if not notice_due(
        lines,
        now,
        institution.timezone,
        min_debt_minor=institution.collection_min_debt_minor,
        min_age_days=institution.collection_min_age_days,
    ):
        return
    amount = sum(line.outstanding_minor for line in lines)
    case = CollectionCase(
        institution_id=patron.institution_id,
        patron_id=patron.id,
        amount_minor=amount,
        currency=institution.currency,
        state=CaseState.NOTICE_SENT.value,
        agency=agency,
        created_at=now,
        notice_sent_at=now,
        notice_deadline=notice_deadline(
            now, institution.collection_notice_days, institution.timezone
        ),
    )
    ctx.session.add(case)
    await ctx.session.flush()
    for line in lines:
        ctx.session.add(
            CollectionCaseFee(
                case_id=case.id, fee_id=line.fee_id, amount_minor=line.outstanding_minor
            )
        )
    await ctx.session.flush()
    address = patron.email or patron.institutional_email
    if address:
        language = letter_language(patron, institution)
        letter = notice_letter(case, patron, institution, language, pay_url)
        await queue_mail(
            ctx,
            template="collection_notice",
            to=address,
            language=language,
            values=letter.values(),
            patron_id=patron.id,
        )
        report.mails += 1
    await record_on(
        ctx,
        "collection:notice",
        case,
        amount_minor=amount,
        currency=case.currency,
        deadline=case.notice_deadline.isoformat() if case.notice_deadline else None,
        agency=agency,
        mailed=bool(address),
    )
    report.notices += 1


async def send_notices(
    ctx: Ctx,
    now: datetime,
    *,
    public_url: str,
    after_id: int = 0,
    limit: int | None = None,
) -> CollectionReport:
    """Send the collection notice to every patron who has earned one (see the module's
    docstring); with `limit`, at most that many patrons with ids above `after_id`."""
    check_run(ctx, now)
    system = ctx.as_actor(SYSTEM_ACTOR)
    report = CollectionReport()
    pay_url = pay_url_of(public_url)
    for patron_id in await _candidates(system, now, after_id, limit):
        report.seen += 1
        report.last_id = patron_id
        try:
            async with system.session.begin_nested():
                await _notice_one(system, patron_id, now, pay_url, report)
        except LibcardError as error:
            report.failures += 1
            logger.warning("collection notice for patron %s refused: %s", patron_id, error.message)
        except Exception:
            report.failures += 1
            logger.exception("collection notice for patron %s failed; others go on", patron_id)
    return report
