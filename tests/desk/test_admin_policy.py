"""Administration of policy at the desk: the institution's settings and the patron groups'.

Forms are posted as a browser would post them: the page's form is read with what it shows
(values, ticked boxes, chosen options), a few fields are changed, and the whole form is sent.
"""

from __future__ import annotations

from html.parser import HTMLParser

import httpx
import pytest
from sqlalchemy import select

from libcard.blocks.service import account_blocks
from libcard.context import ActorKind
from libcard.errors import Forbidden
from libcard.fees.rules import FeeType
from libcard.fees.service import charge
from libcard.patrons.service import get_patron, update_patron
from libcard.policy.models import Institution, PatronGroup
from libcard.policy.rules import Action, BlockCode
from libcard.policy.service import get_group, group_by_code
from libcard.runtime import Runtime
from tests.conftest import World
from tests.desk.conftest import DeskHarness, StaffHandle, audit_events
from tests.portal.conftest import alert, csrf, main_part


class _FormReader(HTMLParser):
    """The values a browser would send for the form posting to `action`."""

    def __init__(self, action: str) -> None:
        super().__init__()
        self.action = action
        self.inside = False
        self.found = False
        self.values: dict[str, str] = {}
        self.select: str | None = None
        self.first_option: str | None = None
        self.textarea: str | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = {key: value or "" for key, value in attrs}
        if tag == "form":
            self.inside = not self.found and a.get("action") == self.action
            return
        if not self.inside:
            return
        name = a.get("name")
        if tag == "input" and name:
            kind = a.get("type", "text")
            if kind in ("checkbox", "radio"):
                if "checked" in a:
                    self.values[name] = a.get("value", "on")
            elif kind not in ("submit", "button"):
                self.values[name] = a.get("value", "")
        elif tag == "select" and name:
            self.select, self.first_option = name, None
        elif tag == "option" and self.select:
            if self.first_option is None:
                self.first_option = a.get("value", "")
                self.values.setdefault(self.select, self.first_option)
            if "selected" in a:
                self.values[self.select] = a.get("value", "")
        elif tag == "textarea" and name:
            self.textarea = name
            self.values[name] = ""

    def handle_endtag(self, tag: str) -> None:
        if tag == "form" and self.inside:
            self.inside, self.found = False, True
        elif tag == "select":
            self.select = None
        elif tag == "textarea":
            self.textarea = None

    def handle_data(self, data: str) -> None:
        if self.inside and self.textarea:
            self.values[self.textarea] += data


def form_values(html: str, action: str) -> dict[str, str]:
    reader = _FormReader(action)
    reader.feed(html)
    assert reader.found, f"no form posting to {action}:\n{main_part(html)[:3000]}"
    return reader.values


async def submit(
    client: httpx.AsyncClient, page: str, action: str, changes: dict[str, str | None]
) -> httpx.Response:
    """Open `page`, fill in its form for `action` (None: untick or leave out), and post it."""
    shown = await client.get(page)
    assert shown.status_code == 200, shown.text
    values = form_values(shown.text, action)
    for name, value in changes.items():
        if value is None:
            values.pop(name, None)
        else:
            values[name] = value
    return await client.post(action, data=values)


async def signed_in(desk: DeskHarness, user: StaffHandle) -> httpx.AsyncClient:
    """A browser past both login steps that asks for English (the institution's is Danish)."""
    client = await desk.browser()
    client.headers["Accept-Language"] = "en"
    return await desk.logged_in(user, client)


async def _admin(desk: DeskHarness) -> httpx.AsyncClient:
    return await signed_in(desk, await desk.staff("admin"))


async def _institution(runtime: Runtime, institution_id: int) -> Institution:
    async with runtime.unit(readonly=True) as ctx:
        institution = await ctx.session.get(Institution, institution_id)
        assert institution is not None
        return institution


async def _owing(world: World, amount_minor: int) -> int:
    patron = await world.patron()
    async with world.runtime.unit() as ctx:
        await charge(ctx, patron.id, FeeType.OVERDUE, amount_minor, "Books returned late")
    return patron.id


async def _blocks(runtime: Runtime, patron_id: int) -> dict[BlockCode, frozenset[Action]]:
    async with runtime.unit(readonly=True) as ctx:
        blocks, _, _ = await account_blocks(ctx, await get_patron(ctx, patron_id))
    return {block.code: block.effects for block in blocks}


async def test_the_index_leads_to_every_administration_page(desk: DeskHarness) -> None:
    client = await _admin(desk)
    page = await client.get("/desk/admin")
    assert page.status_code == 200
    for path in ("institution", "groups", "branches", "terminals", "tokens", "staff"):
        assert f'href="/desk/admin/{path}"' in page.text
        assert (await client.get(f"/desk/admin/{path}")).status_code == 200


async def test_a_lower_fee_threshold_blocks_a_patron_who_owes_that_much(desk: DeskHarness) -> None:
    patron_id = await _owing(desk.world, 15000)
    assert BlockCode.FEE_THRESHOLD not in await _blocks(desk.runtime, patron_id)
    admin = await desk.staff("admin")
    client = await signed_in(desk, admin)
    page = await client.get("/desk/admin/institution")
    assert 'value="225.00"' in page.text
    assert "DKK" in page.text
    saved = await submit(
        client,
        "/desk/admin/institution",
        "/desk/admin/institution",
        {"threshold": "100,00", "reason": "Board decision 12 March"},
    )
    assert saved.status_code == 303
    assert saved.headers["location"] == "/desk/admin/institution?done=saved"
    assert (
        await _institution(desk.runtime, desk.world.institution_id)
    ).fee_block_threshold_minor == (10000)
    assert BlockCode.FEE_THRESHOLD in await _blocks(desk.runtime, patron_id)
    [event] = await audit_events(desk.runtime, "policy:update")
    assert event.details["changes"] == {"fee_block_threshold_minor": 10000}
    assert event.actor_id == f"staff:{admin.id}"
    assert event.branch_id == desk.branch_id
    assert event.reason == "Board decision 12 March"
    shown = await client.get(saved.headers["location"])
    assert "The settings are saved" in shown.text
    assert 'value="100.00"' in shown.text


async def test_the_registry_grace_period_is_set_on_the_institution_page(
    desk: DeskHarness,
) -> None:
    client = await _admin(desk)
    page = await client.get("/desk/admin/institution")
    assert 'name="registry_grace_days"' in page.text
    saved = await submit(
        client, "/desk/admin/institution", "/desk/admin/institution", {"registry_grace_days": "0"}
    )
    assert saved.headers["location"] == "/desk/admin/institution?done=saved"
    institution = await _institution(desk.runtime, desk.world.institution_id)
    assert institution.registry_grace_days == 0
    [event] = await audit_events(desk.runtime, "policy:update")
    assert event.details["changes"] == {"registry_grace_days": 0}


async def test_an_unchanged_form_changes_and_records_nothing(desk: DeskHarness) -> None:
    client = await _admin(desk)
    same = await submit(client, "/desk/admin/institution", "/desk/admin/institution", {})
    assert same.headers["location"] == "/desk/admin/institution?done=unchanged"
    assert await audit_events(desk.runtime, "policy:update") == []


async def test_an_invalid_value_is_refused_with_the_values_kept_and_nothing_saved(
    desk: DeskHarness,
) -> None:
    client = await _admin(desk)
    cases = {
        "max_wrong_pins": ("99", "Wrong PINs in a row: write a whole number from 1 to 20."),
        "threshold": ("lots", "Fee block threshold: write an amount like 225.00."),
        "timezone": ("Mars/Olympus", "Time zone: write a time zone like Europe/Copenhagen."),
        "card_valid_years": ("0", "Cards are valid for: write a whole number from 1 to 50."),
        "registry_grace_days": (
            "400",
            "Days a student may be missing from the registry: write a whole number from 0 to 365.",
        ),
    }
    for field, (wrong, message) in cases.items():
        refused = await submit(
            client,
            "/desk/admin/institution",
            "/desk/admin/institution",
            {"name": "Renamed Library", "threshold": "100.00", field: wrong},
        )
        assert refused.status_code == 422, field
        assert alert(refused.text) == message
        kept = form_values(refused.text, "/desk/admin/institution")
        assert kept[field] == wrong
        assert kept["name"] == "Renamed Library"
        assert f'id="{field}" name="{field}" type="text" value="{wrong}"' in refused.text
        assert 'aria-invalid="true"' in refused.text
    institution = await _institution(desk.runtime, desk.world.institution_id)
    assert institution.name == "Nordby Library"
    assert institution.fee_block_threshold_minor == 22500
    assert await audit_events(desk.runtime, "policy:update") == []


async def test_what_a_block_stops_is_set_per_block_and_action(desk: DeskHarness) -> None:
    patron_id = await _owing(desk.world, 30000)
    assert await _blocks(desk.runtime, patron_id) == {BlockCode.FEE_THRESHOLD: frozenset(Action)}
    client = await _admin(desk)
    saved = await submit(
        client,
        "/desk/admin/institution",
        "/desk/admin/institution",
        {
            "effect.fee_threshold.digital": None,
            "effect.fee_threshold.hold": None,
            "effect.staff.borrow": None,
            "effect.staff.renew": None,
            "effect.staff.hold": None,
            "effect.staff.digital": None,
        },
    )
    assert saved.status_code == 303
    assert await _blocks(desk.runtime, patron_id) == {
        BlockCode.FEE_THRESHOLD: frozenset({Action.BORROW, Action.RENEW})
    }
    stored = (await _institution(desk.runtime, desk.world.institution_id)).block_effects
    # Every code is stored, so the page and the rules agree: nothing ticked stops nothing.
    assert stored["staff"] == []
    assert sorted(stored["pin_locked"]) == sorted(a.value for a in Action)
    page = await client.get("/desk/admin/institution")
    values = form_values(page.text, "/desk/admin/institution")
    assert "effect.fee_threshold.borrow" in values
    assert "effect.fee_threshold.digital" not in values
    assert not any(name.startswith("effect.staff.") for name in values)


async def test_a_refused_form_leaves_the_block_effects_as_they_were(desk: DeskHarness) -> None:
    client = await _admin(desk)
    refused = await submit(
        client,
        "/desk/admin/institution",
        "/desk/admin/institution",
        {"effect.pin_locked.borrow": None, "activation_code_days": "-3"},
    )
    assert refused.status_code == 422
    # The unticked box stays unticked on the page shown again.
    assert "effect.pin_locked.borrow" not in form_values(refused.text, "/desk/admin/institution")
    assert (await _institution(desk.runtime, desk.world.institution_id)).block_effects == {}


async def test_field_ownership_edited_for_a_group_binds_the_desk(desk: DeskHarness) -> None:
    patron = await desk.world.patron()
    desk_actor = desk.world.actor(ActorKind.DESK)
    async with desk.runtime.unit(desk_actor) as ctx:
        await update_patron(ctx, patron.id, {"street": "Old Road 1"})
    client = await _admin(desk)
    group_id = desk.world.groups["external"]
    page = f"/desk/admin/groups/{group_id}"
    saved = await submit(
        client, page, page, {"owner.address": "registry", "reason": "Addresses from CPR"}
    )
    assert saved.status_code == 303
    assert saved.headers["location"] == f"{page}?done=saved"
    async with desk.runtime.unit(desk_actor) as ctx:
        with pytest.raises(Forbidden) as refused:
            await update_patron(ctx, patron.id, {"street": "New Road 2"})
        assert refused.value.code == "field_not_yours"
        # The e-mail stays the patron's, which the desk may change for them.
        await update_patron(ctx, patron.id, {"phone": "+45 12 34 56 78"})
    [event] = await audit_events(desk.runtime, "policy:update")
    assert event.subject_kind == "patron_group"
    assert event.details["changes"]["field_owners"]["address"] == "registry"
    assert event.reason == "Addresses from CPR"
    shown = form_values((await client.get(page)).text, page)
    assert shown["owner.address"] == "registry"
    assert shown["owner.email"] == "patron"


async def test_group_overrides_of_threshold_and_block_rules_and_back(desk: DeskHarness) -> None:
    patron_id = await _owing(desk.world, 6000)
    assert await _blocks(desk.runtime, patron_id) == {}
    client = await _admin(desk)
    page = f"/desk/admin/groups/{desk.world.groups['external']}"
    saved = await submit(
        client,
        page,
        page,
        {
            "threshold": "50",
            "max_wrong_pins": "5",
            "mode.fee_threshold": "own",
            "effect.fee_threshold.renew": None,
            "effect.fee_threshold.hold": None,
            "effect.fee_threshold.digital": None,
            # Ticked off while the row follows the institution: ignored.
            "effect.staff.borrow": None,
        },
    )
    assert saved.status_code == 303
    assert await _blocks(desk.runtime, patron_id) == {
        BlockCode.FEE_THRESHOLD: frozenset({Action.BORROW})
    }
    async with desk.runtime.unit(readonly=True) as ctx:
        group = await get_group(ctx, desk.world.groups["external"])
    assert group.block_effects == {"fee_threshold": ["borrow"]}
    assert group.max_wrong_pins == 5
    listing = await client.get("/desk/admin/groups")
    assert "Fees at the threshold" in listing.text
    back = await submit(
        client,
        page,
        page,
        {"threshold": "", "max_wrong_pins": "", "mode.fee_threshold": "institution"},
    )
    assert back.status_code == 303
    async with desk.runtime.unit(readonly=True) as ctx:
        group = await get_group(ctx, desk.world.groups["external"])
    assert (group.fee_block_threshold_minor, group.max_wrong_pins, group.block_effects) == (
        None,
        None,
        None,
    )
    assert await _blocks(desk.runtime, patron_id) == {}


async def test_a_new_group_is_created_and_a_taken_code_refused(desk: DeskHarness) -> None:
    client = await _admin(desk)
    made = await submit(
        client,
        "/desk/admin/groups/new",
        "/desk/admin/groups",
        {"code": "retired", "name": "Retired staff", "physical": None, "fee": "25,00"},
    )
    assert made.status_code == 303, made.text
    async with desk.runtime.unit(readonly=True) as ctx:
        group = await group_by_code(ctx, desk.world.institution_id, "retired")
    assert made.headers["location"] == f"/desk/admin/groups/{group.id}?done=created"
    assert (group.name, group.may_hold_physical_card, group.card_replacement_fee_minor) == (
        "Retired staff",
        False,
        2500,
    )
    assert group.field_owners["address"] == "desk"
    event = (await audit_events(desk.runtime, "group:create"))[-1]
    assert event.subject_id == str(group.id)
    assert event.actor_kind == "admin"
    assert event.branch_id == desk.branch_id
    taken = await submit(
        client,
        "/desk/admin/groups/new",
        "/desk/admin/groups",
        {"code": "student", "name": "Students again"},
    )
    assert taken.status_code == 409
    assert alert(taken.text) == "This institution has a patron group with this code already."
    assert form_values(taken.text, "/desk/admin/groups")["name"] == "Students again"
    bad = await submit(
        client, "/desk/admin/groups/new", "/desk/admin/groups", {"code": "Not a code!"}
    )
    assert bad.status_code == 422


async def test_another_institutions_group_is_not_found(desk: DeskHarness) -> None:
    other_institution, other_group = await desk.other_institution()
    theirs = await signed_in(desk, await desk.staff("admin", institution_id=other_institution))
    ours = desk.world.groups["external"]
    assert (await theirs.get(f"/desk/admin/groups/{ours}")).status_code == 404
    token = csrf((await theirs.get("/desk/admin")).text)
    posted = await theirs.post(
        f"/desk/admin/groups/{ours}", data={"csrf": token, "name": "Taken over"}
    )
    assert posted.status_code == 404
    listing = await theirs.get("/desk/admin/groups")
    assert f"/desk/admin/groups/{other_group}" in listing.text
    assert f"/desk/admin/groups/{ours}" not in listing.text
    page = await theirs.get("/desk/admin/institution")
    assert 'value="Sydby Library"' in page.text
    assert "Nordby" not in main_part(page.text)
    async with desk.runtime.unit(readonly=True) as ctx:
        group = await ctx.session.scalar(select(PatronGroup).where(PatronGroup.id == ours))
    assert group is not None
    assert group.name == "External"


async def test_a_form_without_its_csrf_token_changes_nothing(desk: DeskHarness) -> None:
    client = await _admin(desk)
    page = await client.get("/desk/admin/institution")
    values = form_values(page.text, "/desk/admin/institution")
    values.pop("csrf")
    refused = await client.post("/desk/admin/institution", data={**values, "threshold": "10.00"})
    assert refused.status_code == 403
    group_page = f"/desk/admin/groups/{desk.world.groups['student']}"
    group_values = form_values((await client.get(group_page)).text, group_page)
    refused_group = await client.post(
        group_page, data={**group_values, "csrf": "forged", "name": "Hijacked"}
    )
    assert refused_group.status_code == 403
    assert (
        await _institution(desk.runtime, desk.world.institution_id)
    ).fee_block_threshold_minor == (22500)
    assert await audit_events(desk.runtime, "policy:update") == []
