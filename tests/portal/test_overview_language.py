"""The overview (R13, R14, R17) and the page language: a blocked patron reads why, since
when, what it stops and how to lift it, in their language, with amounts formatted for it."""

from __future__ import annotations

import re

import httpx
import pytest
from markupsafe import escape

from libcard.blocks.service import account_blocks
from libcard.blocks.texts import BlockText, describe
from libcard.context import ActorKind
from libcard.fees.rules import FeeType
from libcard.fees.service import charge
from libcard.kit.i18n import money, translate
from libcard.patrons.service import get_patron
from libcard.policy.models import Institution
from libcard.policy.rules import BlockCode
from tests.conftest import PatronHandle
from tests.portal.conftest import LANGUAGE_COOKIE, Portal, html_lang, patron_row


async def _fee_blocked(portal: Portal, **kw: object) -> PatronHandle:
    """A patron owing 300.00 DKK in two fees, over the 225.00 threshold."""
    patron = await portal.patron(**kw)  # type: ignore[arg-type]
    async with portal.runtime.unit(portal.world.actor(ActorKind.DESK)) as ctx:
        await charge(ctx, patron.id, FeeType.OVERDUE, 17500, "Late return")
        await charge(ctx, patron.id, FeeType.PROCESSING, 12500, "Reminder letters")
    return patron


async def _block_text(portal: Portal, patron: PatronHandle, language: str) -> BlockText:
    async with portal.runtime.unit(readonly=True) as ctx:
        blocks, policy, _ = await account_blocks(ctx, await get_patron(ctx, patron.id))
    [block] = blocks
    assert block.code is BlockCode.FEE_THRESHOLD
    return describe(block, policy, language, "Europe/Copenhagen")


def _articles(html: str) -> list[str]:
    return re.findall(r'<article class="block">(.*?)</article>', html, re.S)


@pytest.mark.parametrize("language", ["da", "de", "en"])
async def test_a_fee_blocked_patron_reads_the_block_in_the_page_language(
    portal: Portal, language: str
) -> None:
    patron = await _fee_blocked(portal)
    browser = await portal.browser(**{"accept-language": f"{language},en;q=0.5"})
    client = await portal.logged_in(patron, browser)
    page = await client.get("/overview")
    assert page.status_code == 200
    assert html_lang(page.text) == language
    text = await _block_text(portal, patron, language)
    [article] = _articles(page.text)
    assert f"<h3>{escape(text.title)}</h3>" in article
    assert f'<p class="block-reason">{escape(text.reason)}</p>' in article
    assert str(escape(text.lift)) in article
    assert 'class="block-since"' in article
    assert 'class="block-stops"' in article
    assert text.title == translate(language, "Blocked because of unpaid fees")
    balance = re.search(r'<strong id="balance">(.*?)</strong>', page.text)
    assert balance is not None
    assert balance.group(1) == str(escape(money(30000, "DKK", language)))
    fees = re.search(r'<table id="fees".*?</table>', page.text, re.S)
    assert fees is not None
    assert fees.group(0).count("<tr>") == 3  # a heading and a row per fee
    assert str(escape(money(17500, "DKK", language))) in fees.group(0)


async def test_the_german_and_danish_titles_differ_from_the_english(portal: Portal) -> None:
    """The catalogues have the block texts: German and Danish pages are not English."""
    patron = await _fee_blocked(portal)
    titles = {}
    for language in ("da", "de", "en"):
        titles[language] = (await _block_text(portal, patron, language)).title
    assert len(set(titles.values())) == 3, titles


async def test_the_card_page_shows_a_banner_when_blocked(portal: Portal) -> None:
    patron = await _fee_blocked(portal)
    client = await portal.logged_in(patron)
    card = await client.get("/card")
    assert 'class="banner"' in card.text
    assert 'href="/overview"' in card.text


async def test_an_unblocked_patron_owes_nothing(portal: Portal) -> None:
    patron = await portal.patron()
    client = await portal.logged_in(patron, await portal.browser(**{"accept-language": "en"}))
    page = await client.get("/overview")
    assert _articles(page.text) == []
    assert "Your card is not blocked." in page.text
    assert f'<strong id="balance">{money(0, "DKK", "en")}</strong>' in page.text
    assert 'class="banner"' not in (await client.get("/card")).text


async def test_the_language_switch_sets_a_cookie_and_the_next_page_follows(portal: Portal) -> None:
    patron = await _fee_blocked(portal, preferred_language="da")
    client = await portal.logged_in(patron, await portal.browser(**{"accept-language": "da"}))
    switch = await client.get("/language?to=de&next=/overview")
    assert switch.status_code == 303
    assert switch.headers["location"] == "/overview"
    assert client.cookies[LANGUAGE_COOKIE] == "de"
    set_cookie = next(h for h in switch.headers.get_list("set-cookie") if LANGUAGE_COOKIE in h)
    assert "Max-Age=" in set_cookie  # remembered beyond this browser session
    page = await client.get("/overview")
    assert html_lang(page.text) == "de"
    assert f"<h3>{escape(translate('de', 'Blocked because of unpaid fees'))}</h3>" in page.text
    # Remembered with the account too, so that mail comes in German.
    assert (await patron_row(portal.runtime, patron.id)).preferred_language == "de"


async def test_the_switch_works_before_login_and_keeps_to_this_site(portal: Portal) -> None:
    client = portal.client
    switch = await client.get("/language?to=en&next=/login")
    assert switch.headers["location"] == "/login"
    assert html_lang((await client.get("/login")).text) == "en"
    away = await client.get("/language?to=de&next=https://evil.example/")
    assert away.headers["location"] == "/"
    unknown = await client.get("/language?to=xx&next=/login")
    assert unknown.headers["location"] == "/login"
    assert client.cookies[LANGUAGE_COOKIE] == "de"


def _lang_of(response: httpx.Response) -> str:
    assert response.status_code == 200, response.headers
    return html_lang(response.text)


async def test_logged_out_the_browser_language_decides(portal: Portal) -> None:
    for header, expected in (
        ("de-DE,de;q=0.9,en;q=0.8", "de"),
        ("en-GB", "en"),
        ("fr-FR, de;q=0.5", "de"),
        ("da", "da"),
    ):
        browser = await portal.browser(**{"accept-language": header})
        assert _lang_of(await browser.get("/login")) == expected, header


async def test_the_patrons_preferred_language_beats_the_browsers(portal: Portal) -> None:
    patron = await portal.patron(preferred_language="en")
    client = await portal.logged_in(patron, await portal.browser(**{"accept-language": "de"}))
    for path in ("/card", "/overview", "/my-data"):
        assert _lang_of(await client.get(path)) == "en", path


async def test_the_chosen_language_beats_the_patrons_and_the_browsers(portal: Portal) -> None:
    patron = await portal.patron(preferred_language="en")
    browser = await portal.browser(**{"accept-language": "de"})
    browser.cookies.set(LANGUAGE_COOKIE, "da", domain="testserver.local")
    client = await portal.logged_in(patron, browser)
    assert _lang_of(await client.get("/card")) == "da"
    assert _lang_of(await client.get("/overview")) == "da"


async def test_a_made_up_language_cookie_is_ignored(portal: Portal) -> None:
    browser = await portal.browser(**{"accept-language": "de"})
    browser.cookies.set(LANGUAGE_COOKIE, "<script>", domain="testserver.local")
    assert _lang_of(await browser.get("/login")) == "de"


async def test_without_other_choices_the_institutions_default_language_is_used(
    portal: Portal,
) -> None:
    async with portal.runtime.unit() as ctx:
        institution = await ctx.session.get(Institution, portal.world.institution_id)
        assert institution is not None
        institution.default_language = "en"
    patron = await portal.patron()  # no preferred language, and the browser names none
    client = await portal.logged_in(patron)
    assert _lang_of(await client.get("/card")) == "en"
