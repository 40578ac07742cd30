"""What a registry run writes in bulk: rows by COPY, and the activation mail once a batch."""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

from sqlalchemy import JSON, TableClause, insert
from sqlalchemy.ext.asyncio import AsyncSession

from libcard.kit.i18n import day
from libcard.notify.forms import MailForm, mail_form
from libcard.notify.service import MailLinks


async def insert_rows(
    session: AsyncSession, table: TableClause, rows: list[dict[str, Any]]
) -> None:
    """Rows whose ids nobody needs back (all with the same columns): on PostgreSQL by COPY,
    several times faster than a multi-row INSERT of the same rows; elsewhere by INSERT."""
    connection = await session.connection()
    if connection.dialect.name != "postgresql":
        await connection.execute(insert(table), rows)
        return
    columns = list(rows[0])
    # COPY takes the values as the database stores them: JSON as its text (as the JSON type
    # would write it), the rest as asyncpg binds them.
    as_json = {column for column in columns if isinstance(table.c[column].type, JSON)}
    records = [
        tuple(json.dumps(row[c]) if c in as_json else row[c] for c in columns) for row in rows
    ]
    raw = await connection.get_raw_connection()
    await raw.driver_connection.copy_records_to_table(  # type: ignore[union-attr]
        table.name, records=records, columns=columns
    )


class ActivationMail:
    """A batch's activation mail, rendered once per language: its students differ only in
    name, card number and code (the expiry, the institution and the link are the batch's)."""

    def __init__(self, public_url: str, expires_at: datetime) -> None:
        self.activate_url = MailLinks(public_url).activate
        self.expires_at = expires_at
        self.forms: dict[str, MailForm] = {}

    def form(self, language: str, institution_name: str, timezone: str) -> MailForm:
        form = self.forms.get(language)
        if form is None or form.constants["institution_name"] != institution_name:
            form = mail_form(
                "activation_code",
                language,
                {
                    "institution_name": institution_name,
                    "valid_until": day(self.expires_at, language, timezone),
                    "activate_url": self.activate_url,
                },
                frozenset({"patron_name", "card_number", "code"}),
            )
            self.forms[language] = form
        return form
