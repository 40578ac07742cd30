"""The administrators' wallet page: what is offered and why not, and the pass's branding.

The page is used as an administrator's browser uses it: the branding form is a multipart
form with a file field, posted with the page's CSRF token. The branding's effect is read in
the next pass a patron is handed.
"""

from __future__ import annotations

import html
import json
import re
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi import FastAPI

from libcard.cards.service import find_card
from libcard.context import Actor, ActorKind, Ctx
from libcard.errors import Forbidden, InvalidInput
from libcard.kit.clock import FrozenClock
from libcard.policy.branches import create_branch
from libcard.policy.models import Institution
from libcard.runtime import Runtime
from libcard.wallet.apple import solid_png
from libcard.wallet.apple_service import apple_wallet, signed_pass
from libcard.wallet.branding import KEEP, update_branding
from libcard.wallet.configured import apple_signer
from libcard.wallet.google import google_account
from libcard.wallet.rules import Colour
from libcard.web.app import create_app
from tests.conftest import World
from tests.desk.conftest import DeskHarness, audit_events
from tests.portal.conftest import alert, csrf
from tests.wallet.support import (
    NO_APPLE,
    NO_GOOGLE,
    PUBLIC,
    read_pkpass,
    with_settings,
)

PAGE = "/desk/admin/wallet"
LOGO = solid_png(300, 90, Colour(200, 30, 30))
STORED_DEFAULTS = {
    "wallet_background": "#003366",
    "wallet_foreground": "#ffffff",
    "wallet_label": "#ccddee",
    "wallet_symbology": "code128",
    "wallet_contact": None,
    "wallet_logo": None,
}


@pytest.fixture
async def desk(world: World, runtime: Runtime, clock: FrozenClock) -> AsyncIterator[DeskHarness]:
    """The desk's pages on this runtime, with one branch (as tests/desk sets them up)."""
    async with runtime.unit() as ctx:
        branch = await create_branch(ctx, world.institution_id, code="main", name="Main Library")
    async with AsyncExitStack() as stack:
        yield DeskHarness(create_app(runtime), runtime, world, clock, branch.id, stack)


async def admin_browser(desk: DeskHarness, app: FastAPI | None = None) -> httpx.AsyncClient:
    """An administrator logged in on `app` (default: the harness's app)."""
    user = await desk.staff("admin")
    if app is not None:
        desk = DeskHarness(app, desk.runtime, desk.world, desk.clock, desk.branch_id, desk._stack)
    return await desk.logged_in(user)


async def wallet_page(client: httpx.AsyncClient) -> str:
    page = await client.get(PAGE)
    assert page.status_code == 200, page.text
    return html.unescape(page.text)


def form_values(page: str) -> dict[str, str]:
    """What the browser sends of the branding form as it is shown."""
    values = {
        name: re.search(rf'name="{name}" type="text" value="([^"]*)"', page).group(1)  # type: ignore[union-attr]
        for name in ("background", "foreground", "label")
    }
    checked = re.search(r'name="symbology" value="([a-z0-9]+)" checked', page)
    contact = re.search(r'<textarea id="contact"[^>]*>(.*?)</textarea>', page, re.S)
    assert contact, page
    return {
        **values,
        "symbology": checked.group(1) if checked else "",
        "contact": html.unescape(contact.group(1)),
    }


async def post_branding(
    client: httpx.AsyncClient,
    fields: dict[str, str] | None = None,
    *,
    logo: bytes | None = None,
    with_csrf: bool = True,
    **changes: str,
) -> httpx.Response:
    """The branding form as shown, with `fields` and `changes` changed, posted as multipart
    like a browser does (an empty file part when no logo is chosen)."""
    page = await client.get(PAGE)
    assert page.status_code == 200, page.text
    data = {**form_values(page.text), **(fields or {}), **changes}
    if with_csrf:
        data["csrf"] = csrf(page.text)
    files = {"logo": ("logo.png", logo, "image/png") if logo is not None else ("", b"", "")}
    return await client.post(PAGE, data=data, files=files)


async def stored_branding(runtime: Runtime, institution_id: int) -> dict[str, Any]:
    async with runtime.unit(readonly=True) as ctx:
        institution = await ctx.session.get(Institution, institution_id)
        assert institution is not None
        return {key: getattr(institution, key) for key in STORED_DEFAULTS}


async def next_pass(world: World) -> dict[str, bytes]:
    """The pass a patron is handed now."""
    runtime = world.runtime
    patron = await world.patron()
    wallet = apple_wallet(runtime.settings, runtime.keyring)
    assert wallet is not None
    async with runtime.unit() as ctx:
        card = await find_card(ctx, patron.ecard)
        signed = await signed_pass(ctx, wallet, card.id)
    return read_pkpass(signed.data)


# --- what is offered, and why not ------------------------------------------------------------


async def test_the_page_names_every_missing_setting(desk: DeskHarness, runtime: Runtime) -> None:
    bare = with_settings(runtime, **NO_APPLE, **NO_GOOGLE, public_url="http://library.example.org")
    page = await wallet_page(await admin_browser(desk, create_app(bare)))

    assert "Apple Wallet: not offered." in page
    assert (
        "These settings are not set: LIBCARD_APPLE_PASS_TYPE_IDENTIFIER, "
        "LIBCARD_APPLE_TEAM_IDENTIFIER, LIBCARD_APPLE_PASS_CERTIFICATE_PATH, "
        "LIBCARD_APPLE_PASS_KEY_PATH, LIBCARD_APPLE_WWDR_CERTIFICATE_PATH."
    ) in page
    assert "Google Wallet: not offered." in page
    assert (
        "These settings are not set: LIBCARD_GOOGLE_WALLET_ISSUER_ID, "
        "LIBCARD_GOOGLE_WALLET_KEY_PATH."
    ) in page
    assert "The public address is not HTTPS, so passes are not updated on phones." in page


async def test_one_missing_setting_is_named_alone(desk: DeskHarness, runtime: Runtime) -> None:
    partly = with_settings(runtime, apple_pass_certificate_path=None)
    page = await wallet_page(await admin_browser(desk, create_app(partly)))
    assert "Apple Wallet: not offered. LIBCARD_APPLE_PASS_CERTIFICATE_PATH is not set." in (
        " ".join(page.split())
    )
    assert "Google Wallet: offered to patrons." in page


async def test_files_that_cannot_be_used_are_explained(
    desk: DeskHarness, runtime: Runtime, tmp_path: Path
) -> None:
    garbage = tmp_path / "garbage.pem"
    garbage.write_text("-----BEGIN NOTHING-----")
    broken = with_settings(runtime, apple_pass_key_path=garbage, google_wallet_key_path=garbage)
    with pytest.raises(InvalidInput) as apple_error:
        apple_signer(broken.settings)
    with pytest.raises(InvalidInput) as google_error:
        google_account(broken.settings)
    page = " ".join((await wallet_page(await admin_browser(desk, create_app(broken)))).split())

    assert "Apple Wallet: not offered. The files named in the settings cannot be used:" in page
    assert apple_error.value.message in page
    assert "Google Wallet: not offered. The files named in the settings cannot be used:" in page
    assert google_error.value.message in page
    assert "is not set" not in page


async def test_a_full_setup_over_https_is_offered_and_updated(desk: DeskHarness) -> None:
    page = await wallet_page(await admin_browser(desk))
    assert "Apple Wallet: offered to patrons." in page
    assert "Google Wallet: offered to patrons." in page
    assert f"Phones fetch updated passes from {PUBLIC}/wallet/apple." in page
    assert "not HTTPS" not in page


async def test_the_admin_index_links_the_page(desk: DeskHarness) -> None:
    index = await (await admin_browser(desk)).get("/desk/admin")
    assert 'href="/desk/admin/wallet"' in index.text


# --- the branding --------------------------------------------------------------------------


async def test_saved_branding_is_in_the_next_pass(
    desk: DeskHarness, runtime: Runtime, world: World
) -> None:
    client = await admin_browser(desk)
    saved = await post_branding(
        client,
        logo=LOGO,
        background="#112233",
        foreground="#FEFEFE",
        label="abcdef",
        symbology="qr",
        contact="  Nordby Library\r\nMain Street 1  ",
        reason="New colours of the library",
    )
    assert saved.status_code == 303, saved.text
    assert saved.headers["location"] == f"{PAGE}?done=saved"
    page = html.unescape((await client.get(saved.headers["location"])).text)
    assert "The pass design is saved." in page
    assert 'fill="#112233"' in page  # the preview
    assert (await client.get(f"{PAGE}/logo")).content == LOGO

    assert await stored_branding(runtime, world.institution_id) == {
        "wallet_background": "#112233",
        "wallet_foreground": "#fefefe",
        "wallet_label": "#abcdef",
        "wallet_symbology": "qr",
        "wallet_contact": "Nordby Library\nMain Street 1",
        "wallet_logo": LOGO,
    }
    package = await next_pass(world)
    content = json.loads(package["pass.json"])
    assert content["backgroundColor"] == "rgb(17, 34, 51)"
    assert content["foregroundColor"] == "rgb(254, 254, 254)"
    assert content["labelColor"] == "rgb(171, 205, 239)"
    assert content["barcodes"][0]["format"] == "PKBarcodeFormatQR"
    [contact] = [f for f in content["storeCard"]["backFields"] if f["key"] == "contact"]
    assert contact["value"] == "Nordby Library\nMain Street 1"
    assert package["logo.png"] == LOGO

    [event] = await audit_events(runtime, "policy:update")
    changes = event.details["changes"]
    assert set(changes) == set(STORED_DEFAULTS)
    assert changes["wallet_logo"].startswith("sha256:")
    assert len(changes["wallet_logo"]) == len("sha256:") + 64
    assert event.reason == "New colours of the library"
    assert event.actor_kind == "admin"

    # The same form again changes nothing and logs nothing.
    again = await post_branding(client)
    assert again.headers["location"] == f"{PAGE}?done=unchanged"
    assert len(await audit_events(runtime, "policy:update")) == 1


@pytest.mark.parametrize(
    ("changes", "message", "field"),
    [
        ({"background": "navy"}, "The background colour is written as #rrggbb", "background"),
        ({"foreground": "#12345"}, "The text colour is written as #rrggbb", "foreground"),
        ({"label": "#gggggg"}, "The label colour is written as #rrggbb", "label"),
        ({"symbology": "pdf417"}, "Choose one of the barcodes.", None),
        ({"contact": "x" * 501}, "The contact text has at most 500 characters.", "contact"),
    ],
)
async def test_a_bad_value_is_refused_and_the_old_branding_stays(
    desk: DeskHarness,
    runtime: Runtime,
    world: World,
    changes: dict[str, str],
    message: str,
    field: str | None,
) -> None:
    client = await admin_browser(desk)
    # With a good change beside the bad one: the form is saved whole or not at all.
    refused = await post_branding(client, {"contact": "Open every day", **changes})
    assert refused.status_code == 422, refused.text
    assert message in html.unescape(alert(refused.text))
    shown = form_values(html.unescape(refused.text))
    if field is not None:
        assert re.search(rf'id="{field}" name="{field}"[^>]*aria-invalid="true"', refused.text)
        assert shown[field] == changes[field]  # what was typed is shown again
    if field != "contact":
        assert shown["contact"] == "Open every day"
    assert await stored_branding(runtime, world.institution_id) == STORED_DEFAULTS
    assert await audit_events(runtime, "policy:update") == []


async def test_a_logo_must_be_a_small_png(
    desk: DeskHarness, runtime: Runtime, world: World
) -> None:
    client = await admin_browser(desk)
    assert (await post_branding(client, logo=LOGO)).status_code == 303
    cases = [
        (b"GIF89a\x01\x00\x01\x00" + b"\x00" * 40, "The logo must be a PNG file."),
        (solid_png(600, 100, Colour(0, 0, 0)), "at most 480 pixels wide and 150 pixels high"),
        (solid_png(100, 151, Colour(0, 0, 0)), "at most 480 pixels wide and 150 pixels high"),
        # A small picture with 300 KB of other chunks after it is still too big a file.
        (solid_png(100, 100, Colour(0, 0, 0)) + b"\x00" * (300 * 1024), "at most 256 KB"),
    ]
    for data, message in cases:
        refused = await post_branding(client, logo=data, background="#000000")
        assert refused.status_code == 422, refused.text
        assert message in html.unescape(alert(refused.text))
        assert re.search(r'id="logo" name="logo"[^>]*aria-invalid="true"', refused.text)
    stored = await stored_branding(runtime, world.institution_id)
    assert stored["wallet_logo"] == LOGO
    assert stored["wallet_background"] == "#003366"

    both = await post_branding(client, logo=LOGO, remove_logo="1")
    assert both.status_code == 422
    assert "Either choose a new logo or tick Remove the logo" in html.unescape(alert(both.text))


async def test_the_logo_can_be_removed(desk: DeskHarness, runtime: Runtime, world: World) -> None:
    client = await admin_browser(desk)
    assert (await post_branding(client, logo=LOGO)).status_code == 303
    assert "Remove the logo" in await wallet_page(client)
    removed = await post_branding(client, remove_logo="1")
    assert removed.status_code == 303, removed.text
    assert (await stored_branding(runtime, world.institution_id))["wallet_logo"] is None
    assert (await client.get(f"{PAGE}/logo")).status_code == 404
    events = await audit_events(runtime, "policy:update")
    assert events[-1].details["changes"] == {"wallet_logo": None}
    assert "logo.png" in await next_pass(world)  # the plain one in the institution's colours


async def test_a_form_without_its_csrf_token_changes_nothing(
    desk: DeskHarness, runtime: Runtime, world: World
) -> None:
    client = await admin_browser(desk)
    refused = await post_branding(client, with_csrf=False, background="#000000")
    assert refused.status_code == 403
    forged = await client.post(PAGE, data={"csrf": "forged", "background": "#000000"})
    assert forged.status_code == 403
    assert await stored_branding(runtime, world.institution_id) == STORED_DEFAULTS


@pytest.mark.parametrize("role", ["desk", "supervisor"])
async def test_only_an_administrator_opens_the_page(
    desk: DeskHarness, runtime: Runtime, world: World, role: str
) -> None:
    client = await desk.logged_in(await desk.staff(role))
    for path in (PAGE, f"{PAGE}/logo"):
        assert (await client.get(path)).status_code == 403, path
    token = csrf((await client.get("/desk")).text)
    posted = await client.post(
        PAGE, data={"csrf": token, "background": "#000000"}, files={"logo": ("a.png", LOGO)}
    )
    assert posted.status_code == 403
    assert await stored_branding(runtime, world.institution_id) == STORED_DEFAULTS


# --- the service on its own -------------------------------------------------------------------


async def brand_with_contact(ctx: Ctx, institution_id: int, contact: str | None) -> tuple[str, ...]:
    """The default colours and barcode, with `contact`."""
    return await update_branding(
        ctx,
        institution_id,
        background="#003366",
        foreground="#ffffff",
        label="#ccddee",
        symbology="code128",
        contact=contact,
        logo=KEEP,
    )


async def test_only_an_administrator_of_the_institution_changes_the_branding(
    runtime: Runtime, world: World
) -> None:
    for actor in (
        world.actor(ActorKind.DESK),
        world.actor(ActorKind.SUPERVISOR),
        Actor(kind=ActorKind.ADMIN, label="other admin", institution_id=world.institution_id + 1),
    ):
        with pytest.raises(Forbidden):
            async with runtime.unit(actor) as ctx:
                await brand_with_contact(ctx, world.institution_id, "Hijacked")
    assert (await stored_branding(runtime, world.institution_id))["wallet_contact"] is None


async def test_the_contact_text_is_trimmed_and_empty_is_none(
    runtime: Runtime, world: World
) -> None:
    admin = world.actor(ActorKind.ADMIN)
    async with runtime.unit(admin) as ctx:
        changed = await brand_with_contact(ctx, world.institution_id, "\n  Open 9–17  \n")
    assert changed == ("wallet_contact",)
    assert (await stored_branding(runtime, world.institution_id))["wallet_contact"] == "Open 9–17"
    async with runtime.unit(admin) as ctx:
        assert await brand_with_contact(ctx, world.institution_id, "   ") == ("wallet_contact",)
        assert await brand_with_contact(ctx, world.institution_id, None) == ()
    assert (await stored_branding(runtime, world.institution_id))["wallet_contact"] is None
