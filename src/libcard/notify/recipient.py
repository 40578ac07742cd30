"""Mail to a patron about a change to their account: to which address, in which language.

The domains that change accounts (cards, blocks, payments, collection) hand in their patron
and institution rows; `notify` knows them only by the few attributes it reads, so it imports
no domain. A patron without an e-mail address gets no mail, silently: the change stands
whether or not anyone can be told of it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

from libcard.context import Ctx
from libcard.notify.models import OutboundMail
from libcard.notify.service import mail_language, queue_mail


class MailPatron(Protocol):
    @property
    def id(self) -> int: ...
    @property
    def first_name(self) -> str: ...
    @property
    def last_name(self) -> str: ...
    @property
    def email(self) -> str | None: ...
    @property
    def institutional_email(self) -> str | None: ...
    @property
    def preferred_language(self) -> str | None: ...


class MailInstitution(Protocol):
    @property
    def name(self) -> str: ...
    @property
    def default_language(self) -> str: ...
    @property
    def timezone(self) -> str: ...


@dataclass(frozen=True)
class Recipient:
    """Who a mail goes to, and what the values in it are formatted for."""

    patron_id: int
    patron_name: str
    address: str
    language: str
    institution_name: str
    timezone: str


def recipient(patron: MailPatron, institution: MailInstitution) -> Recipient | None:
    """The patron as a mail's recipient, or None if there is no address to write to. The
    private address comes first, as for the activation code: it is the one the patron chose."""
    address = patron.email or patron.institutional_email
    if not address:
        return None
    return recipient_at(patron, institution, address)


def recipient_at(patron: MailPatron, institution: MailInstitution, address: str) -> Recipient:
    """The patron as the recipient of a mail to `address` (a reset link goes to the address
    that was typed, say)."""
    return Recipient(
        patron_id=patron.id,
        patron_name=f"{patron.first_name} {patron.last_name}",
        address=address,
        language=mail_language(patron.preferred_language or institution.default_language),
        institution_name=institution.name,
        timezone=institution.timezone,
    )


async def mail_recipient(ctx: Ctx, to: Recipient, template: str, **values: object) -> OutboundMail:
    """Queue `template` to `to` in the caller's transaction, greeted by name and signed by
    the library; `values` are the template's own, already formatted in `to.language`."""
    return await queue_mail(
        ctx,
        template=template,
        to=to.address,
        language=to.language,
        patron_id=to.patron_id,
        values={
            "patron_name": to.patron_name,
            "institution_name": to.institution_name,
            **values,
        },
    )
