"""Policy: the defaults a library starts with and who may change them (R4, R6, R8, R13, R14)."""

from __future__ import annotations

from typing import Any

import pytest

from libcard.context import Actor, ActorKind
from libcard.errors import Forbidden, InvalidInput
from libcard.policy.rules import ALL_ACTIONS, Action, BlockCode, FeeBlockLift, FeeComparison
from libcard.policy.service import (
    get_institution,
    policy_for_group,
    update_group,
    update_institution,
)
from tests.conftest import World


async def test_the_defaults_are_those_of_the_requirements(world: World) -> None:
    """R4, R6, R8, R13, R14b defaults: 3 wrong PINs, a fee block at or above 225.00 DKK lifted
    at zero, blocks stop every action, students hold no physical card."""
    async with world.runtime.unit() as ctx:
        policies = {
            code: (await policy_for_group(ctx, group_id))[2]
            for code, group_id in world.groups.items()
        }
    for policy in policies.values():
        assert policy.currency == "DKK"
        assert policy.max_wrong_pins == 3
        assert policy.fee_block_threshold_minor == 22500
        assert policy.fee_block_comparison is FeeComparison.AT_OR_ABOVE
        assert policy.fee_block_lifts_at is FeeBlockLift.ZERO
        assert all(policy.effects_of(code) == ALL_ACTIONS for code in BlockCode)
    assert policies["student"].may_hold_physical_card is False
    assert policies["employee"].may_hold_physical_card is True
    assert policies["external"].may_hold_physical_card is True
    assert policies["external"].card_replacement_fee_minor == 5000
    assert policies["student"].owner_of("address") == "registry"
    assert policies["employee"].owner_of("institutional_email") == "identity_portal"
    assert policies["external"].owner_of("address") == "desk"
    assert policies["external"].owner_of("email") == "patron"


async def test_an_administrator_changes_policy(world: World) -> None:
    """Policy is the institution's to configure; the group may override the institution."""
    admin = world.actor(ActorKind.ADMIN)
    async with world.runtime.unit(admin) as ctx:
        await update_institution(
            ctx,
            world.institution_id,
            {
                "max_wrong_pins": 4,
                "fee_block_threshold_minor": 10000,
                "fee_block_comparison": "gt",
                "block_effects": {"staff": ["borrow", "hold"]},
            },
        )
        await update_group(
            ctx, world.groups["student"], {"max_wrong_pins": 6, "may_hold_physical_card": True}
        )
    async with world.runtime.unit() as ctx:
        _, _, student = await policy_for_group(ctx, world.groups["student"])
        _, _, external = await policy_for_group(ctx, world.groups["external"])
        institution = await get_institution(ctx, world.institution_id)
    assert institution.max_wrong_pins == 4
    assert (student.max_wrong_pins, external.max_wrong_pins) == (6, 4)
    assert student.may_hold_physical_card is True
    assert external.fee_block_threshold_minor == 10000
    assert external.fee_threshold_reached(10000) is False
    assert external.fee_threshold_reached(10001) is True
    assert external.effects_of("staff") == {Action.BORROW, Action.HOLD}


async def test_only_an_administrator_changes_policy(world: World) -> None:
    """Desk staff, the patron and integrations cannot change policy."""
    for kind in (ActorKind.DESK, ActorKind.TERMINAL, ActorKind.REGISTRY, ActorKind.PATRON):
        with pytest.raises(Forbidden):
            async with world.runtime.unit(world.actor(kind)) as ctx:
                await update_institution(ctx, world.institution_id, {"max_wrong_pins": 10})
        with pytest.raises(Forbidden):
            async with world.runtime.unit(world.actor(kind)) as ctx:
                await update_group(ctx, world.groups["student"], {"may_hold_physical_card": True})
    other = Actor(kind=ActorKind.ADMIN, label="admin of another library", institution_id=9999)
    with pytest.raises(Forbidden):
        async with world.runtime.unit(other) as ctx:
            await update_institution(ctx, world.institution_id, {"max_wrong_pins": 10})
    async with world.runtime.unit() as ctx:
        _, _, policy = await policy_for_group(ctx, world.groups["student"])
    assert policy.max_wrong_pins == 3
    assert policy.may_hold_physical_card is False


async def test_invalid_policy_values_are_refused(world: World) -> None:
    """A policy that cannot work (no PIN attempts, a negative fee, unknown block codes …) is
    refused with a message that says what is allowed."""
    admin = world.actor(ActorKind.ADMIN)
    institution_changes: list[dict[str, Any]] = [
        {"max_wrong_pins": 0},
        {"max_wrong_pins": 21},
        {"fee_block_threshold_minor": 0},
        {"fee_block_comparison": "gte"},
        {"fee_block_lifts_at": "never"},
        {"block_effects": {"fee_threshold": ["fly"]}},
        {"block_effects": {"overdue": ["borrow"]}},
        {"currency": "XXX"},
        {"activation_code_days": 0},
        {"card_prefix": "9999"},
        {"max_wrong_pins": None},
        {"block_effects": None},
    ]
    for changes in institution_changes:
        with pytest.raises(InvalidInput):
            async with world.runtime.unit(admin) as ctx:
                await update_institution(ctx, world.institution_id, changes)
    group_changes: list[dict[str, Any]] = [
        {"card_replacement_fee_minor": -1},
        {"max_wrong_pins": 0},
        {"field_owners": {"address": "anyone"}},
        {"field_owners": {"shoe_size": "desk"}},
        {"card_replacement_fee_minor": None},
        {"may_hold_physical_card": None},
    ]
    for changes in group_changes:
        with pytest.raises(InvalidInput):
            async with world.runtime.unit(admin) as ctx:
                await update_group(ctx, world.groups["external"], changes)
    async with world.runtime.unit() as ctx:
        _, _, policy = await policy_for_group(ctx, world.groups["external"])
    assert policy.max_wrong_pins == 3
    assert policy.card_replacement_fee_minor == 5000


async def test_a_group_override_can_be_cleared(world: World) -> None:
    """R6: a group's own limit overrides the institution's; cleared, the institution's holds."""
    admin = world.actor(ActorKind.ADMIN)
    async with world.runtime.unit(admin) as ctx:
        await update_group(ctx, world.groups["employee"], {"max_wrong_pins": 5})
    async with world.runtime.unit() as ctx:
        assert (await policy_for_group(ctx, world.groups["employee"]))[2].max_wrong_pins == 5
    async with world.runtime.unit(admin) as ctx:
        await update_group(ctx, world.groups["employee"], {"max_wrong_pins": None})
    async with world.runtime.unit() as ctx:
        assert (await policy_for_group(ctx, world.groups["employee"]))[2].max_wrong_pins == 3
