"""`libcard jobs run` and `libcard worker`, as an operator runs them, against a database with
an overdue loan made in-process."""

from __future__ import annotations

import asyncio
import signal
import subprocess
import time
from pathlib import Path

import pytest
from sqlalchemy import select
from typer.testing import CliRunner

from libcard import cli
from libcard.context import ActorKind
from libcard.fees.models import Fee
from libcard.jobs.models import JobRun
from libcard.loans.service import checkout, create_item
from libcard.policy.branches import create_branch
from tests.cli_support import LIBCARD, cli_env, run_libcard
from tests.conftest import World


async def _overdue_loan(world: World) -> int:
    """A loan due at the end of 2 February 2026 (the fixture clock's day plus 28 days)."""
    async with world.runtime.unit(world.actor(ActorKind.ADMIN)) as ctx:
        branch = await create_branch(ctx, world.institution_id, code="main", name="Main")
        await create_item(
            ctx,
            world.institution_id,
            barcode="3800001",
            title="The Rings of Saturn",
            branch_id=branch.id,
            replacement_cost_minor=25000,
        )
    patron = await world.patron()
    async with world.runtime.unit(world.actor(ActorKind.TERMINAL)) as ctx:
        await checkout(ctx, patron.ecard, "3800001")
    return patron.id


async def _fees(world: World, patron_id: int) -> list[tuple[str, int]]:
    async with world.runtime.unit() as ctx:
        fees = await ctx.session.scalars(
            select(Fee).where(Fee.patron_id == patron_id).order_by(Fee.id)
        )
        return [(fee.type, fee.amount_minor) for fee in fees]


async def test_jobs_run_prints_what_it_did(world: World, database_url: str, tmp_path: Path) -> None:
    patron_id = await _overdue_loan(world)
    # 76 days overdue: the fine is brought up to this day (capped), then the item is lost.
    ran = await run_libcard(
        database_url, tmp_path, "jobs", "run", "lost_items", "--now", "2026-04-20T09:00+02:00"
    )
    assert ran.returncode == 0, ran.stderr
    assert ran.stdout.strip() == (
        "lost_items: loans assessed: 1, fees created: 1, fees raised: 0, "
        "items declared lost: 1, replacement invoices: 1, failures: 0"
    )
    assert await _fees(world, patron_id) == [("overdue", 10000), ("replacement", 25000)]


def test_jobs_run_refuses_an_unknown_job_and_a_time_without_offset() -> None:
    runner = CliRunner()
    unknown = runner.invoke(cli.app, ["jobs", "run", "dunning"])
    assert unknown.exit_code == 1
    listed = " ".join(unknown.output.split())  # Rich wraps the line
    names = (
        "overdue_fines, lost_items, collection_notices, collection_handover, payments, "
        "wallet_passes, wallet_passes_daily, mail"
    )
    assert f"the jobs are {names}" in listed
    naive = runner.invoke(cli.app, ["jobs", "run", "mail", "--now", "2026-04-20 09:00"])
    assert naive.exit_code == 2
    assert "UTC offset" in naive.output


async def test_the_worker_runs_the_daily_jobs_until_stopped(
    world: World, database_url: str, tmp_path: Path, backend: str
) -> None:
    if backend != "sqlite":
        pytest.skip("the job_run lock is tested on PostgreSQL in tests/services/test_fines.py")
    patron_id = await _overdue_loan(world)
    process = subprocess.Popen(  # noqa: S603, ASYNC220 — our own command, polled below
        [LIBCARD, "worker"],
        cwd=tmp_path,
        env=cli_env(database_url),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    daily = [
        "collection_handover",
        "collection_notices",
        "lost_items",
        "overdue_fines",
        "wallet_passes_daily",
    ]
    try:
        deadline = time.monotonic() + 60
        finished: list[str] = []
        while sorted(finished) != daily and time.monotonic() < deadline:
            assert process.poll() is None, process.communicate()[0]
            await asyncio.sleep(0.2)
            async with world.runtime.unit() as ctx:
                finished = list(
                    (
                        await ctx.session.scalars(
                            select(JobRun.name).where(JobRun.finished_at.is_not(None))
                        )
                    ).all()
                )
        assert sorted(finished) == daily
    finally:
        process.send_signal(signal.SIGTERM)
        output, _ = await asyncio.to_thread(process.communicate, timeout=30)
    assert process.returncode == 0, output
    assert "worker stopped" in output
    # Months overdue by the real clock: fined to the cap, declared lost and invoiced.
    assert await _fees(world, patron_id) == [("overdue", 10000), ("replacement", 25000)]
