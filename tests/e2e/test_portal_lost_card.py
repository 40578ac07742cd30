"""Reporting the physical card lost on /lost-card (R10, R11): the page says how to get a new
one and what it costs the patron's group; the card is refused from then on while the e-card
still works. (SQLite only; see conftest.)"""

from __future__ import annotations

import pytest

from tests.e2e.support import (
    Admin,
    Portal,
    alert_text,
    form_with,
    log_in,
    no_space,
    path_of,
    submit,
)


@pytest.mark.parametrize(
    ("locale", "price"),
    [("en-GB", "DKK 50.00"), ("da-DK", "50,00 kr.")],
    ids=["english", "danish"],
)
def test_a_lost_card_is_refused_and_the_page_says_what_a_new_one_costs(
    admin: Admin, portal: Portal, locale: str, price: str
) -> None:
    patron = admin.register("external", physical=True)
    assert patron.physical is not None
    assert patron.physical_id is not None
    assert admin.status(patron.physical)["usable"] is True

    page = portal.page(locale=locale)
    log_in(page, patron.ecard, patron.password)
    page.goto("/lost-card")
    portal.shot(page, "lost-card")
    form = form_with(page, "card_id")
    form.locator(f"[name=card_id][value='{patron.physical_id}']").check()
    form.locator("[name=confirm]").check()
    submit(page, form)
    assert not alert_text(page), alert_text(page)
    portal.shot(page, "lost-card-reported")

    replacement = page.locator("#replacement")
    assert replacement.count() == 1, f"no #replacement on {path_of(page)}"
    text = replacement.inner_text()
    # Babel writes "DKK50.00" or "DKK 50.00", "50,00 kr." with a no-break space: compare
    # without white space.
    assert no_space(price) in no_space(text), text

    lost = admin.status(patron.physical)
    assert lost["usable"] is False, lost
    assert lost["refusal"]["code"] == "card_lost", lost
    assert not any(lost["may"].values()), lost
    ecard = admin.status(patron.ecard)
    assert ecard["usable"] is True, ecard
    assert ecard["may"]["borrow"] is True, ecard
