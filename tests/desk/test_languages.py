"""The desk in Danish, German and English: the switch, the user's own language, no English
left on a translated page."""

from __future__ import annotations

import pytest

from libcard.kit.i18n import translate
from libcard.staff.service import StaffChanges, update_staff
from tests.desk.conftest import DeskHarness
from tests.portal.conftest import html_lang, main_part


@pytest.mark.parametrize("language", ["da", "de"])
async def test_the_switch_turns_every_desk_text_into_the_chosen_language(
    desk: DeskHarness, language: str
) -> None:
    client = await desk.logged_in(await desk.staff("supervisor"))
    switched = await client.get(f"/desk/language?to={language}&next=/desk")
    assert switched.status_code == 303
    assert switched.headers["location"] == "/desk"
    page = await client.get("/desk")
    assert html_lang(page.text) == language
    for text in ("Find a patron", "Log out", "Lending desk"):
        assert translate(language, text) != text
        assert translate(language, text) in page.text
        assert text not in main_part(page.text)


async def test_a_patron_view_in_german_has_no_english_headings(desk: DeskHarness) -> None:
    patron = await desk.world.patron(physical=True)
    client = await desk.logged_in(await desk.staff("desk"))
    client.headers["Accept-Language"] = "de"
    page = await client.get(f"/desk/patrons/{patron.id}")
    assert html_lang(page.text) == "de"
    for heading in ("Blocks", "Cards", "Recent events", "Account"):
        assert f">{heading}</h2>" not in page.text
        assert f">{translate('de', heading)}</h2>" in page.text


async def test_a_staff_member_s_own_language_wins_over_the_browser(desk: DeskHarness) -> None:
    user = await desk.staff("desk")
    async with desk.runtime.unit() as ctx:
        await update_staff(ctx, user.id, StaffChanges(preferred_language="da"))
    client = await desk.logged_in(user)
    page = await client.get("/desk")
    assert html_lang(page.text) == "da"
