"""Running the daily jobs: once per day in one process of all, each run kept in `job_run`.

Every process that runs a scheduler (`serve` with `LIBCARD_RUN_JOBS` on, `libcard worker`)
checks each minute whether a daily job is due. To run one, a process inserts the job's row
for the day; the unique (name, day) lets exactly one insert through, so two processes never
run the same job on the same day. A run cut off half-way (its process stopped or died) is
left unfinished and taken over by any scheduler after `STALE_RUN`; its loans were committed
batch by batch and the jobs are idempotent, so the rerun finishes what is left.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from libcard.jobs.models import JobRun
from libcard.jobs.registry import DAILY_JOBS, FREQUENT_JOBS, Job
from libcard.policy.models import Institution
from libcard.runtime import Runtime

logger = logging.getLogger(__name__)

CHECK_SECONDS = 60.0
STOP_GRACE_SECONDS = 10.0
STALE_RUN = timedelta(hours=2)


def job_day(now: datetime, timezones: Iterable[str]) -> date:
    """The day a daily job runs for: the newest local date among the institutions' time
    zones, so that the jobs run soon after midnight where a day begins first (UTC's date when
    there is no institution yet). With one time zone, simply today's local date."""
    return max(
        (now.astimezone(ZoneInfo(zone)).date() for zone in set(timezones)),
        default=now.astimezone(UTC).date(),
    )


async def claim_run(runtime: Runtime, name: str, day: date) -> int | None:
    """The id of this process's run of `name` for `day`, or None when another process has
    it (or had it: a daily job runs once)."""
    now = runtime.clock.now()
    try:
        async with runtime.unit() as ctx:
            run = JobRun(name=name, day=day, started_at=now)
            ctx.session.add(run)
            await ctx.session.flush()
            return run.id
    except IntegrityError:
        pass  # the day's run exists: finished, running, or cut off
    async with runtime.unit() as ctx:
        stale = await ctx.session.scalar(
            select(JobRun)
            .where(
                JobRun.name == name,
                JobRun.day == day,
                JobRun.finished_at.is_(None),
                JobRun.started_at < now - STALE_RUN,
            )
            .with_for_update()
        )
        if stale is None:
            return None
        logger.warning("job %s for %s was cut off at %s; running it again", name, day, now)
        stale.started_at = now
        return stale.id


async def _finish(runtime: Runtime, run_id: int, outcome: str, summary: str) -> None:
    async with runtime.unit() as ctx:
        run = await ctx.session.get(JobRun, run_id)
        assert run is not None  # claimed by this process
        run.finished_at = ctx.clock.now()
        run.outcome = outcome
        run.summary = summary[:500]


@dataclass(frozen=True)
class Ran:
    """A job this scheduler ran: its name, the day, the outcome and what it did."""

    name: str
    day: date
    outcome: str
    summary: str


class JobScheduler:
    """Runs the daily jobs that are due, and the frequent ones, at start and then every
    `interval_seconds`."""

    def __init__(
        self,
        runtime: Runtime,
        jobs: Sequence[Job] = DAILY_JOBS,
        *,
        frequent: Sequence[Job] = FREQUENT_JOBS,
        interval_seconds: float = CHECK_SECONDS,
    ) -> None:
        self.runtime = runtime
        self.jobs = tuple(jobs)
        self.frequent = tuple(frequent)
        self.interval_seconds = interval_seconds
        self._stopping = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        if self._task is None:
            self._stopping.clear()
            self._task = asyncio.create_task(self._run(), name="libcard job scheduler")

    async def stop(self) -> None:
        task, self._task = self._task, None
        if task is None:
            return
        self._stopping.set()
        try:
            await asyncio.wait_for(asyncio.shield(task), STOP_GRACE_SECONDS)
        except TimeoutError:
            # A job still running: what it committed stays, and its run is taken over later.
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task

    async def run_due(self) -> list[Ran]:
        """Run each daily job not yet run today (by any process); returns what ran here."""
        now = self.runtime.clock.now()
        async with self.runtime.unit(readonly=True) as ctx:
            zones = (await ctx.session.scalars(select(Institution.timezone).distinct())).all()
        day = job_day(now, zones)
        ran: list[Ran] = []
        for job in self.jobs:
            if self._stopping.is_set():
                break
            run_id = await claim_run(self.runtime, job.name, day)
            if run_id is None:
                continue
            try:
                report = await job.run(self.runtime, now)
                outcome, summary = ("partial" if report.failures else "ok"), report.summary()
            except Exception as error:
                logger.exception("job %s for %s failed", job.name, day)
                outcome, summary = "failed", f"{type(error).__name__}: {error}"
            await _finish(self.runtime, run_id, outcome, summary)
            logger.info("job %s for %s: %s (%s)", job.name, day, outcome, summary)
            ran.append(Ran(job.name, day, outcome, summary))
        for job in self.frequent:
            if self._stopping.is_set():
                break
            await self._run_frequent(job, now)
        return ran

    async def _run_frequent(self, job: Job, now: datetime) -> None:
        # Not recorded in job_run (it runs every minute); a failure is logged and the next
        # check tries again.
        try:
            report = await job.run(self.runtime, now)
        except Exception:
            logger.exception("job %s failed; it runs again at the next check", job.name)
            return
        level = logging.WARNING if report.failures else logging.DEBUG
        logger.log(level, "job %s: %s", job.name, report.summary())

    async def _run(self) -> None:
        while not self._stopping.is_set():
            try:
                await self.run_due()
            except Exception:
                logger.exception("the job scheduler failed; it tries again shortly")
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._stopping.wait(), self.interval_seconds)
