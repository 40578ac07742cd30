"""A mail form filled for one patron is exactly the mail rendered for that patron."""

from __future__ import annotations

import pytest

from libcard.kit.i18n import SUPPORTED
from libcard.notify.forms import mail_form
from libcard.notify.service import render_mail

CONSTANTS = {
    "institution_name": "Nordby 100% Library",
    "valid_until": "4 January 2027",
    "activate_url": "https://library.example.org/activate",
}
SLOTS = frozenset({"patron_name", "card_number", "code"})


@pytest.mark.parametrize("language", sorted(SUPPORTED))
@pytest.mark.parametrize(
    "patron_name",
    [
        "Karen Holm",
        "Åse Ødegård-Müller",
        "{{ code }} %(code)s",  # template and format syntax is text here
        "Two  spaces",
        " leading and trailing ",  # what tidying could change: rendered in full
        "two\nlines",
        "",
    ],
)
def test_a_filled_form_is_the_rendered_mail(language: str, patron_name: str) -> None:
    values = {"patron_name": patron_name, "card_number": "27700000000012", "code": "K7PQ2M9XHA"}
    form = mail_form("activation_code", language, CONSTANTS, SLOTS)
    assert form.fill(values) == render_mail("activation_code", language, {**CONSTANTS, **values})


def test_a_slot_in_the_subject_is_refused() -> None:
    with pytest.raises(ValueError, match="subject"):
        mail_form("activation_code", "en", CONSTANTS, frozenset({*SLOTS, "institution_name"}))
