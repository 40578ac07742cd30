"""The named jobs: what each does, and how often.

A daily job runs once per day under the `job_run` lock (jobs.scheduler); a frequent job runs
at each of the scheduler's checks (every minute); the mail job is the outbox sender, which
`serve` and `libcard worker` run continuously (notify.sender) and `libcard jobs run mail` runs
once. Every job is idempotent: running it again on the same day changes nothing, and a day
that was missed is caught up by the next run.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Protocol

from libcard.collection.notices import CollectionReport, send_notices
from libcard.collection.workflow import hand_over_due
from libcard.errors import NotFound
from libcard.loans.fines import FinesReport, assess_overdue, declare_lost
from libcard.notify.sender import deliver_pending, transport_from
from libcard.payments.configured import reconcile_payments
from libcard.runtime import Runtime
from libcard.wallet.updates import wallet_updates, wallet_updates_daily

# Loans per unit of work: each batch commits on its own, so a long run holds no lock for long.
BATCH = 200


class Cadence(StrEnum):
    DAILY = "daily"  # once per day, in one process of all
    # At every scheduler check (each minute), in every process that runs jobs: for work that
    # is idempotent and usually finds nothing to do, such as payments whose result is late.
    FREQUENT = "frequent"
    CONTINUOUS = "continuous"  # a loop of its own in every serving process


class Report(Protocol):
    failures: int

    def summary(self) -> str: ...


@dataclass(frozen=True)
class Job:
    name: str
    cadence: Cadence
    description: str
    run: Callable[[Runtime, datetime], Awaitable[Report]]


LoanBatch = Callable[..., Awaitable[FinesReport]]


async def _in_batches(runtime: Runtime, now: datetime, work: LoanBatch) -> FinesReport:
    total = FinesReport()
    after = 0
    while True:
        async with runtime.unit() as ctx:
            part = await work(ctx, now, after_id=after, limit=BATCH)
        total.add(part)
        if part.loans_seen < BATCH:
            return total
        after = part.last_loan_id


async def overdue_fines(runtime: Runtime, now: datetime) -> FinesReport:
    return await _in_batches(runtime, now, assess_overdue)


async def lost_items(runtime: Runtime, now: datetime) -> FinesReport:
    return await _in_batches(runtime, now, declare_lost)


CollectionBatch = Callable[..., Awaitable[CollectionReport]]


async def _collection_batches(
    runtime: Runtime, now: datetime, work: CollectionBatch, **options: object
) -> CollectionReport:
    total = CollectionReport()
    after = 0
    while True:
        async with runtime.unit() as ctx:
            part = await work(ctx, now, after_id=after, limit=BATCH, **options)
        total.add(part)
        if part.seen < BATCH:
            return total
        after = part.last_id


async def collection_notices(runtime: Runtime, now: datetime) -> CollectionReport:
    return await _collection_batches(
        runtime, now, send_notices, public_url=runtime.settings.public_url
    )


async def collection_handover(runtime: Runtime, now: datetime) -> CollectionReport:
    return await _collection_batches(runtime, now, hand_over_due)


@dataclass
class MailReport:
    sent: int
    failures: int = 0  # a failed mail is retried by the sender, not counted as the job's failure

    def summary(self) -> str:
        return f"mails sent: {self.sent}"


async def send_mail(runtime: Runtime, now: datetime) -> MailReport:
    return MailReport(await deliver_pending(runtime, transport_from(runtime.settings)))


JOBS: dict[str, Job] = {
    job.name: job
    for job in (
        Job(
            "overdue_fines",
            Cadence.DAILY,
            "Charge or raise the overdue fine of every overdue loan.",
            overdue_fines,
        ),
        Job(
            "lost_items",
            Cadence.DAILY,
            "Declare long-overdue items lost and charge their replacement cost.",
            lost_items,
        ),
        Job(
            "collection_notices",
            Cadence.DAILY,
            "Send the collection notice to patrons whose debt is due for collection.",
            collection_notices,
        ),
        Job(
            "collection_handover",
            Cadence.DAILY,
            "Hand debt still unpaid after the notice to the collection agency.",
            collection_handover,
        ),
        Job(
            "payments",
            Cadence.FREQUENT,
            "Look up online payments whose result never arrived; settle, fail or expire them.",
            reconcile_payments,
        ),
        Job(
            "wallet_passes",
            Cadence.FREQUENT,
            "Update the wallet passes of patrons changed in the last minutes and tell their "
            "phones.",
            wallet_updates,
        ),
        Job(
            "wallet_passes_daily",
            Cadence.DAILY,
            "Update every wallet pass (expired cards, new branding) and tell their phones.",
            wallet_updates_daily,
        ),
        Job("mail", Cadence.CONTINUOUS, "Send the mail outbox.", send_mail),
    )
}
DAILY_JOBS: tuple[Job, ...] = tuple(job for job in JOBS.values() if job.cadence is Cadence.DAILY)
FREQUENT_JOBS: tuple[Job, ...] = tuple(
    job for job in JOBS.values() if job.cadence is Cadence.FREQUENT
)


def job_named(name: str) -> Job:
    job = JOBS.get(name.strip())
    if job is None:
        raise NotFound("job_not_found", f"No job {name!r}; the jobs are {', '.join(JOBS)}.")
    return job
