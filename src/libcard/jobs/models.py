"""The record of daily job runs, which is also their lock."""

from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from libcard.db import Base


class JobRun(Base):
    """One run of a daily job. The unique (name, day) is the lock: of several processes
    starting the same job on the same day, one inserts the row and the others are refused."""

    __tablename__ = "job_run"
    __table_args__ = (UniqueConstraint("name", "day"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(64))
    day: Mapped[date]
    started_at: Mapped[datetime]
    finished_at: Mapped[datetime | None] = mapped_column(default=None)
    # ok, partial (some loans failed and were logged) or failed; None while running.
    outcome: Mapped[str | None] = mapped_column(String(16), default=None)
    summary: Mapped[str | None] = mapped_column(String(500), default=None)
