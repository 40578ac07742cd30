"""The export file for a collection agency: its handed-over cases not yet sent, as CSV.

One line per fee a case covers (the case's columns repeat on each); a case made by hand that
covers no fee has one line with empty fee columns. Columns: docs/collection.md.
"""

from __future__ import annotations

import csv
import secrets
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import TextIO
from zoneinfo import ZoneInfo

from sqlalchemy import select

from libcard.audit.service import record_on
from libcard.cards.models import Card
from libcard.cards.rules import CardKind, CardState
from libcard.collection.models import CollectionCase
from libcard.collection.rules import CaseState
from libcard.collection.service import CaseFeeLine, case_fees
from libcard.context import ActorKind, Ctx
from libcard.errors import Forbidden, InvalidInput
from libcard.kit.money import format_minor
from libcard.patrons.models import Patron
from libcard.policy.models import Institution

COLUMNS = (
    "case_id",
    "institution",
    "patron_id",
    "card_number",
    "first_name",
    "last_name",
    "street",
    "postal_code",
    "city",
    "country",
    "email",
    "amount",
    "currency",
    "notice_sent_on",
    "handed_over_on",
    "fee_id",
    "fee_date",
    "fee_type",
    "fee_description",
    "fee_amount",
)


@dataclass(frozen=True)
class ExportCase:
    case: CollectionCase
    patron: Patron
    institution: Institution
    card_number: str
    fees: list[CaseFeeLine]


@dataclass(frozen=True)
class ExportBatch:
    batch_id: str
    agency: str
    cases: list[ExportCase]


def card_number_of(cards: Iterable[Card]) -> str:
    """The number the agency can name the patron by: an active card, a physical one first."""
    numbered = [card for card in cards if card.number]
    numbered.sort(
        key=lambda card: (
            card.state != CardState.ACTIVE,
            card.kind != CardKind.PHYSICAL,
            -card.id,
        )
    )
    return (numbered[0].number or "") if numbered else ""


async def take_for_export(ctx: Ctx, agency: str) -> ExportBatch:
    """The agency's handed-over cases not exported yet, marked as exported in this batch.
    The caller writes the file before the unit commits, so a failed write exports nothing."""
    if ctx.actor.kind is not ActorKind.SYSTEM:
        raise Forbidden("forbidden_export", "Only libcard itself writes the agency's export.")
    name = " ".join(agency.split())
    if not 1 <= len(name) <= 100:
        raise InvalidInput("agency", "Name the agency as in the institution's settings.")
    now = ctx.clock.now()
    batch_id = f"{now:%Y%m%dT%H%M%SZ}-{secrets.token_hex(3)}"
    cases = (
        await ctx.session.scalars(
            select(CollectionCase)
            .where(
                CollectionCase.agency == name,
                CollectionCase.state == CaseState.HANDED_OVER.value,
                CollectionCase.export_batch.is_(None),
            )
            .order_by(CollectionCase.id)
            .with_for_update()
        )
    ).all()
    found: list[ExportCase] = []
    for case in cases:
        patron = await ctx.session.get(Patron, case.patron_id)
        institution = await ctx.session.get(Institution, case.institution_id)
        assert patron is not None  # foreign key
        assert institution is not None  # foreign key
        cards = (await ctx.session.scalars(select(Card).where(Card.patron_id == patron.id))).all()
        found.append(
            ExportCase(case, patron, institution, card_number_of(cards), await case_fees(ctx, case))
        )
        case.export_batch, case.exported_at = batch_id, now
        await record_on(ctx, "collection:export", case, batch=batch_id)
    await ctx.session.flush()
    return ExportBatch(batch_id, name, found)


def _local_day(moment: datetime | None, timezone: str) -> str:
    return moment.astimezone(ZoneInfo(timezone)).date().isoformat() if moment else ""


def write_csv(batch: ExportBatch, stream: TextIO) -> int:
    """Write the batch as CSV (UTF-8, comma, header line); returns the number of lines."""
    writer = csv.writer(stream, lineterminator="\r\n")
    writer.writerow(COLUMNS)
    lines = 0
    for item in batch.cases:
        case, patron, zone = item.case, item.patron, item.institution.timezone
        head = [
            case.id,
            item.institution.code,
            patron.id,
            item.card_number,
            patron.first_name,
            patron.last_name,
            patron.street or "",
            patron.postal_code or "",
            patron.city or "",
            patron.country or "",
            patron.email or patron.institutional_email or "",
            format_minor(case.amount_minor - case.paid_minor, case.currency),
            case.currency,
            _local_day(case.notice_sent_at, zone),
            _local_day(case.handed_over_at, zone),
        ]
        fees = [
            [
                fee.fee_id,
                _local_day(fee.created_at, zone),
                fee.type,
                fee.description,
                format_minor(fee.outstanding_minor, case.currency),
            ]
            for fee in item.fees
            if fee.outstanding_minor > 0
        ] or [["", "", "", "", ""]]
        for fee_columns in fees:
            writer.writerow([_safe(value) for value in head + fee_columns])
            lines += 1
    return lines


def _safe(value: object) -> str:
    """A cell a spreadsheet will not run as a formula (CSV injection)."""
    text = str(value)
    return "'" + text if text[:1] in ("=", "+", "-", "@", "\t", "\r") else text
