"""Items (the copies a library lends) and loans (who has which, until when)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, Index, String, UniqueConstraint, text
from sqlalchemy.orm import Mapped, mapped_column

from libcard.db import Base

OPEN_LOAN = text("returned_at IS NULL")


class Item(Base):
    __tablename__ = "item"
    __table_args__ = (UniqueConstraint("institution_id", "barcode"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    institution_id: Mapped[int] = mapped_column(ForeignKey("institution.id"), index=True)
    branch_id: Mapped[int] = mapped_column(ForeignKey("branch.id"), index=True)
    barcode: Mapped[str] = mapped_column(String(64))
    title: Mapped[str] = mapped_column(String(500))
    # In the institution's currency; what a lost copy costs the borrower.
    replacement_cost_minor: Mapped[int]
    loanable: Mapped[bool] = mapped_column(default=True)
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]


class Loan(Base):
    __tablename__ = "loan"
    __table_args__ = (
        # One open loan per item, kept by the database itself on both backends.
        Index(
            "uq_loan_item_id_open",
            "item_id",
            unique=True,
            postgresql_where=OPEN_LOAN,
            sqlite_where=OPEN_LOAN,
        ),
        Index("ix_loan_patron_id_returned_at", "patron_id", "returned_at"),
        # The fines and lost-item jobs walk the open loans by due date.
        Index("ix_loan_due_at_open", "due_at", postgresql_where=OPEN_LOAN, sqlite_where=OPEN_LOAN),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    institution_id: Mapped[int] = mapped_column(ForeignKey("institution.id"), index=True)
    patron_id: Mapped[int] = mapped_column(ForeignKey("patron.id"))
    item_id: Mapped[int] = mapped_column(ForeignKey("item.id"), index=True)
    card_id: Mapped[int] = mapped_column(ForeignKey("card.id"), index=True)
    branch_id: Mapped[int] = mapped_column(ForeignKey("branch.id"), index=True)
    checked_out_at: Mapped[datetime]
    due_at: Mapped[datetime]
    renewals: Mapped[int] = mapped_column(default=0)
    returned_at: Mapped[datetime | None]
    # Declared lost (overdue past the policy's lost_after_days). A lost loan stays open, so the
    # item is lent to nobody else until it is checked in; its fine grows no more.
    lost_at: Mapped[datetime | None] = mapped_column(default=None)
    # The loan's one overdue fine, raised as the days pass, and its replacement invoice.
    fine_fee_id: Mapped[int | None] = mapped_column(ForeignKey("fee.id"), default=None)
    replacement_fee_id: Mapped[int | None] = mapped_column(ForeignKey("fee.id"), default=None)
