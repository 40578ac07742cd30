"""Queueing mail: rendered now, in the patron's language, and sent after the transaction commits.

A mail is rendered in full when it is queued — subject and plain-text body — so the sender
needs to know nothing about patrons, cards or languages, and what goes out is exactly what
the change that queued it said. The row joins the caller's transaction: if the change rolls
back, no mail goes out.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from functools import cache
from pathlib import Path

from jinja2 import Environment, FileSystemLoader, StrictUndefined

from libcard.context import Ctx
from libcard.kit.i18n import DEFAULT_LANGUAGE, N_, SUPPORTED, translate, translations
from libcard.notify.models import OutboundMail

TEMPLATE_DIR = Path(__file__).resolve().parent / "templates"


@dataclass(frozen=True)
class MailTemplate:
    subject: str  # English, marked for the catalogues; may use the values as %(name)s
    values: frozenset[str]  # what the template needs, so a missing value fails at queueing


TEMPLATES: dict[str, MailTemplate] = {
    "activation_code": MailTemplate(
        subject=N_("Activate your library account at %(institution_name)s"),
        values=frozenset(
            {
                "patron_name",
                "institution_name",
                "card_number",
                "code",
                "valid_until",
                "activate_url",
            }
        ),
    ),
    "password_reset": MailTemplate(
        subject=N_("Reset your library password at %(institution_name)s"),
        values=frozenset({"patron_name", "institution_name", "reset_url", "valid_minutes"}),
    ),
    # Mail about changes to the account. None carries a full card number, a PIN or a
    # password: a mailbox is read by more eyes than the patron's, and mail is kept for years.
    "pin_changed": MailTemplate(
        subject=N_("The PIN of your library account at %(institution_name)s was changed"),
        values=frozenset({"patron_name", "institution_name", "changed_at"}),
    ),
    "card_reported_lost": MailTemplate(
        subject=N_("Your library card at %(institution_name)s was reported lost"),
        values=frozenset({"patron_name", "institution_name", "card_number_end", "reported_at"}),
    ),
    "block_placed": MailTemplate(
        subject=N_("Your library account at %(institution_name)s has been blocked"),
        values=frozenset({"patron_name", "institution_name", "reason", "lift"}),
    ),
    "block_lifted": MailTemplate(
        subject=N_("A block on your library account at %(institution_name)s has been lifted"),
        values=frozenset({"patron_name", "institution_name", "reason"}),
    ),
    "collection_notice": MailTemplate(
        subject=N_("Please pay %(amount)s to %(institution_name)s by %(deadline)s"),
        values=frozenset(
            {"patron_name", "institution_name", "amount", "deadline", "pay_url", "agency"}
        ),
    ),
    "payment_receipt": MailTemplate(
        subject=N_("Receipt for your payment to %(institution_name)s"),
        values=frozenset(
            {
                "patron_name",
                "institution_name",
                "amount",
                "paid_at",
                "method",
                "reference",
                "lines",
                "receipt_url",
            }
        ),
    ),
}


@dataclass(frozen=True)
class MailLinks:
    """Where links in mail lead, from the address patrons reach libcard at (the setting
    `public_url`, which adapters hand to services: services read no configuration)."""

    base_url: str

    @property
    def activate(self) -> str:
        return self.base_url.rstrip("/") + "/activate"


@dataclass(frozen=True)
class RenderedMail:
    subject: str
    body: str


@cache
def _environment(language: str) -> Environment:
    # One environment per language, since the gettext callables are installed on it.
    environment = Environment(
        loader=FileSystemLoader(TEMPLATE_DIR),
        extensions=["jinja2.ext.i18n"],
        autoescape=False,  # noqa: S701 — plain-text mail: there is no HTML to escape
        undefined=StrictUndefined,
        keep_trailing_newline=True,
    )
    environment.install_gettext_translations(  # type: ignore[attr-defined]
        translations(language), newstyle=True
    )
    return environment


def mail_language(language: str | None) -> str:
    """A language mail can be written in; anything else gets the source language."""
    if language is not None and language in SUPPORTED:
        return language
    return DEFAULT_LANGUAGE


def render_mail(template: str, language: str, values: Mapping[str, object]) -> RenderedMail:
    """Subject and body of `template` in `language`; refuses unknown templates and missing
    values, which are mistakes in the calling code."""
    spec = TEMPLATES.get(template)
    if spec is None:
        known = ", ".join(sorted(TEMPLATES))
        raise ValueError(f"No mail template {template!r}; the templates are: {known}.")
    missing = spec.values - values.keys()
    if missing:
        raise ValueError(f"Mail template {template!r} needs {', '.join(sorted(missing))}.")
    language = mail_language(language)
    subject = translate(language, spec.subject, **values)
    body = _environment(language).get_template(f"{template}.txt").render(values)
    return RenderedMail(subject=" ".join(subject.split()), body=_tidy(body))


def _tidy(body: str) -> str:
    # Template lines end wherever the tags put them; mail wants no trailing spaces and no
    # run of blank lines.
    lines = [line.rstrip() for line in body.strip().splitlines()]
    tidy: list[str] = []
    for line in lines:
        if line or (tidy and tidy[-1]):
            tidy.append(line)
    return "\n".join(tidy) + "\n"


async def queue_mail(
    ctx: Ctx,
    *,
    template: str,
    to: str,
    language: str,
    values: Mapping[str, object],
    patron_id: int | None = None,
) -> OutboundMail:
    """Render `template` and add it to the outbox in the caller's transaction, due now."""
    language = mail_language(language)
    rendered = render_mail(template, language, values)
    now = ctx.clock.now()
    mail = OutboundMail(
        patron_id=patron_id,
        template=template,
        language=language,
        to_address=to,
        subject=rendered.subject[:300],
        body=rendered.body,
        created_at=now,
        next_attempt_at=now,
        attempts=0,
    )
    ctx.session.add(mail)
    await ctx.session.flush()
    return mail
