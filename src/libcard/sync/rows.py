"""The rows a registry run writes for a new student's activation and for the audit log.

Written as plain rows for multi-row inserts (sync/bulk.py): the same rows `register_patron`,
`issue_activation` and `audit.record_on` write, without an ORM object per row.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any, cast

from sqlalchemy import Table

from libcard.audit.models import AuditEvent
from libcard.kit.secrets import new_code
from libcard.notify.recipient import recipient
from libcard.notify.service import mail_language
from libcard.patrons.credentials import ACTIVATION
from libcard.sync.bulk import ActivationMail, insert_rows

if TYPE_CHECKING:
    from libcard.sync.service import Run, Student

_AUDIT = cast(Table, AuditEvent.__table__)


def activation_rows(
    run: Run,
    mail: ActivationMail | None,
    student: Student,
    card_number: str,
    now: datetime,
    expires_at: datetime,
) -> tuple[dict[str, Any], dict[str, Any], dict[str, Any]] | None:
    """R1, R2: a code mailed to the institutional e-mail; single sign-on needs nothing here.
    A student without an address gets no code: the desk can send one by letter."""
    to = recipient(student, MailInstitution(run))
    if to is None or mail is None:
        return None
    code = new_code()
    token = {
        "patron_id": student.id,
        "purpose": ACTIVATION,
        "digest": run.ctx.keyring.digest(ACTIVATION, code),
        "channel": "email",
        "created_at": now,
        "expires_at": expires_at,
        "used_at": None,
        "revoked_at": None,
    }
    language = mail_language(to.language)
    rendered = mail.form(language, to.institution_name, to.timezone).fill(
        {"patron_name": to.patron_name, "card_number": card_number, "code": code}
    )
    message = {
        "patron_id": student.id,
        "template": "activation_code",
        "language": language,
        "to_address": to.address,
        "subject": rendered.subject[:300],
        "body": rendered.body,
        "created_at": now,
        "next_attempt_at": now,
        "attempts": 0,
    }
    issued = audit_row(
        run,
        now,
        "activation:issue_code",
        student.id,
        channel="email",
        expires_at=expires_at.isoformat(),
    )
    return token, message, issued


@dataclass(frozen=True)
class MailInstitution:
    run: Run

    @property
    def name(self) -> str:
        return self.run.institution_name

    @property
    def default_language(self) -> str:
        return self.run.default_language

    @property
    def timezone(self) -> str:
        return self.run.timezone


def audit_row(
    run: Run,
    now: datetime,
    action: str,
    patron_id: int,
    subject_kind: str = "patron",
    subject_id: int | None = None,
    **details: Any,
) -> dict[str, Any]:
    """The event `audit.record_on` writes, as a row for one multi-row INSERT per batch."""
    actor = run.ctx.actor
    return {
        "at": now,
        "institution_id": run.institution_id,
        "actor_kind": actor.kind.value,
        "actor_id": actor.id,
        "actor_label": actor.label,
        "branch_id": actor.branch_id,
        "reason": run.ctx.reason,
        "action": action,
        "subject_kind": subject_kind,
        "subject_id": str(subject_id if subject_id is not None else patron_id),
        "patron_id": patron_id,
        "details": details,
    }


async def write_events(run: Run) -> None:
    if run.events:
        await insert_rows(run.ctx.session, _AUDIT, run.events)
        run.events = []
