"""The SIP2 benchmark's smoke run: all three servers (libcard, the one-query floor, the fixed-reply
baseline) answer every patron status at every level, the
report says whether the targets hold, and the benchmark's database is gone afterwards. It
asserts nothing about speed (bench/ prints figures, it is never a timed test)."""

from __future__ import annotations

import os
import uuid

import pytest
from bench.sip2.run import main_async, parse_args
from sqlalchemy import text

from libcard.db import create_engine

POSTGRES_URL = os.environ.get("LIBCARD_TEST_POSTGRES_URL")

pytestmark = pytest.mark.skipif(
    POSTGRES_URL is None,
    reason="the SIP2 benchmark runs on PostgreSQL: set LIBCARD_TEST_POSTGRES_URL",
)


async def _databases() -> set[str]:
    assert POSTGRES_URL is not None
    engine = create_engine("postgresql+asyncpg://" + POSTGRES_URL.split("://", 1)[1], pool=False)
    try:
        async with engine.connect() as conn:
            return set((await conn.scalars(text("SELECT datname FROM pg_database"))).all())
    finally:
        await engine.dispose()


async def test_quick_run_answers_every_status_and_reports_the_targets(
    capsys: pytest.CaptureFixture[str],
) -> None:
    database = f"libcard_bench_sip2_test_{uuid.uuid4().hex[:8]}"
    args = parse_args(["--quick", "--database", database])

    results = await main_async(args)

    assert results is not None
    levels = [(r.side, r.connections) for r in results]
    assert levels == [(side, n) for n in (1, 16, 64) for side in ("libcard", "floor", "baseline")]
    for result in results:
        assert result.messages > 0, result
        assert result.errors == 0, result.first_error
    report = capsys.readouterr().out
    for n in (1, 16, 64):
        assert f"\n| {n} | " in report
    assert "target at 64 connections, throughput ≥ 50% of the baseline: " in report
    assert "target at 64 connections, p99 < 20 ms: " in report
    assert "the floor (one raw query, no rules) at 64 connections: " in report
    assert database not in await _databases()
