"""One mail to many patrons: the template rendered once, each patron's values filled in.

A bulk sender (the student registry creates tens of thousands of accounts in a run) would
spend most of its time in Jinja and Babel rendering the same text again and again. A form is
the template rendered once with a marker in place of each per-patron value; filling it is a
join. The result is exactly what `render_mail` gives for the same values: a value that the
tidying of a rendered mail could change (empty, or with a line break or surrounding
whitespace) is rendered in full instead.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass

from libcard.notify.service import RenderedMail, mail_language, render_mail

# A marker no template, catalogue or value holds, and that tidying leaves alone.
_MARK = "\x00{}\x00"
_MARKS = re.compile("\x00([a-z_]+)\x00")


@dataclass(frozen=True)
class MailForm:
    """`template` in `language` with `constants` filled in and the `slots` left open."""

    template: str
    language: str
    constants: Mapping[str, object]
    subject: str
    chunks: tuple[str, ...]  # text, slot name, text, slot name, …, text; () renders in full

    def fill(self, values: Mapping[str, str]) -> RenderedMail:
        """The mail with each slot's value; every slot needs one."""
        if not self.chunks or not all(_plain(value) for value in values.values()):
            return render_mail(self.template, self.language, {**self.constants, **values})
        chunks = self.chunks
        parts = [chunk if index % 2 == 0 else values[chunk] for index, chunk in enumerate(chunks)]
        return RenderedMail(subject=self.subject, body="".join(parts))


def mail_form(
    template: str, language: str, constants: Mapping[str, object], slots: frozenset[str]
) -> MailForm:
    """Render `template` once for many patrons who differ only in the `slots`. A slot in the
    subject is refused: the subject is the same for all."""
    language = mail_language(language)
    rendered = render_mail(
        template, language, {**constants, **{slot: _MARK.format(slot) for slot in slots}}
    )
    # A constant holding a marker's character would be split as one: render such mail whole.
    whole = any("\x00" in str(value) for value in constants.values())
    if not whole and _MARKS.search(rendered.subject):
        raise ValueError(f"Mail template {template!r}: a slot in the subject cannot be filled.")
    return MailForm(
        template=template,
        language=language,
        constants=dict(constants),
        subject=rendered.subject,
        chunks=() if whole else tuple(_MARKS.split(rendered.body)),
    )


def _plain(value: str) -> bool:
    # What tidying (trailing spaces, blank lines) cannot touch: one line, no whitespace at
    # either end, not empty.
    return bool(value) and value == value.strip() and len(value.splitlines()) == 1
