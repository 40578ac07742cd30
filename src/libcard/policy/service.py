"""Institutions and patron groups: create, read, change, and the effective policy of a group."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from sqlalchemy import select

from libcard.audit.service import record
from libcard.context import ActorKind, Ctx
from libcard.errors import Conflict, Forbidden, InvalidInput, NotFound
from libcard.kit.money import check_currency
from libcard.policy.models import Institution, PatronGroup
from libcard.policy.rules import (
    DEFAULT_MAY_HOLD_PHYSICAL,
    PERSONAL_FIELDS,
    Action,
    BlockCode,
    FeeBlockLift,
    FeeComparison,
    FieldOwner,
    LostItemReturned,
    PaymentLogin,
    Policy,
    parse_effects,
    parse_owners,
)

INSTITUTION_POLICY_FIELDS = frozenset(
    {
        "name",
        "currency",
        "timezone",
        "default_language",
        "max_wrong_pins",
        "fee_block_threshold_minor",
        "fee_block_comparison",
        "fee_block_lifts_at",
        "block_effects",
        "activation_code_days",
        "password_reset_minutes",
        "card_valid_years",
        "collection_agency",
        "collection_min_debt_minor",
        "collection_min_age_days",
        "collection_notice_days",
        "payment_login",
        "registry_grace_days",
    }
)
GROUP_POLICY_FIELDS = frozenset(
    {
        "name",
        "may_hold_physical_card",
        "card_replacement_fee_minor",
        "field_owners",
        "max_wrong_pins",
        "fee_block_threshold_minor",
        "block_effects",
        "loan_days",
        "max_loans",
        "max_renewals",
        "fine_per_day_minor",
        "fine_cap_minor",
        "fine_grace_days",
        "lost_after_days",
        "lost_item_returned",
    }
)
# The largest amount a fine setting may name: more is a typo, not a library's fine.
MAX_POLICY_AMOUNT_MINOR = 100_000_000
# Whole-number group settings and the values each may take, in the words an admin reads.
GROUP_NUMBER_RANGES: dict[str, tuple[int, int, str]] = {
    "loan_days": (1, 365, "The loan period"),
    "max_loans": (0, 1000, "The most items on loan"),
    "max_renewals": (0, 100, "The most renewals of a loan"),
    "fine_per_day_minor": (0, MAX_POLICY_AMOUNT_MINOR, "The overdue fine per day (in øre or cent)"),
    "fine_cap_minor": (
        0,
        MAX_POLICY_AMOUNT_MINOR,
        "The most one loan's overdue fine can reach (in øre or cent)",
    ),
    "fine_grace_days": (0, 365, "The grace days before an overdue fine"),
    "lost_after_days": (1, 3650, "The days overdue before an item counts as lost"),
}
# The same for the institution's collection settings.
INSTITUTION_NUMBER_RANGES: dict[str, tuple[int, int, str]] = {
    "collection_min_debt_minor": (
        1,
        MAX_POLICY_AMOUNT_MINOR,
        "The least debt that goes to collection (in øre or cent)",
    ),
    "collection_min_age_days": (0, 3650, "The days a fee is unpaid before collection"),
    "collection_notice_days": (1, 90, "The days between the notice and collection"),
    "registry_grace_days": (
        0,
        365,
        "The days a student may be missing from the registry's full export before expiry",
    ),
}


def policy_of(institution: Institution, group: PatronGroup) -> Policy:
    """The effective policy: the group's overrides over the institution's defaults."""
    effects = parse_effects(institution.block_effects)
    effects.update(parse_effects(group.block_effects))
    return Policy(
        currency=institution.currency,
        max_wrong_pins=group.max_wrong_pins or institution.max_wrong_pins,
        fee_block_threshold_minor=(
            group.fee_block_threshold_minor
            if group.fee_block_threshold_minor is not None
            else institution.fee_block_threshold_minor
        ),
        fee_block_comparison=FeeComparison(institution.fee_block_comparison),
        fee_block_lifts_at=FeeBlockLift(institution.fee_block_lifts_at),
        may_hold_physical_card=group.may_hold_physical_card,
        card_replacement_fee_minor=group.card_replacement_fee_minor,
        field_owners=parse_owners(group.field_owners, group.code),
        block_effects=effects,
        loan_days=group.loan_days,
        max_loans=group.max_loans,
        max_renewals=group.max_renewals,
        fine_per_day_minor=group.fine_per_day_minor,
        fine_cap_minor=group.fine_cap_minor,
        fine_grace_days=group.fine_grace_days,
        lost_after_days=group.lost_after_days,
        lost_item_returned=LostItemReturned(group.lost_item_returned),
        collection_agency=institution.collection_agency,
        collection_min_debt_minor=institution.collection_min_debt_minor,
        collection_min_age_days=institution.collection_min_age_days,
        collection_notice_days=institution.collection_notice_days,
        payment_login=PaymentLogin(institution.payment_login),
    )


def _require_admin(ctx: Ctx, institution_id: int | None) -> None:
    if ctx.actor.kind not in (ActorKind.ADMIN, ActorKind.SYSTEM):
        raise Forbidden("forbidden_policy", "Only an administrator may change policy.")
    if institution_id is not None and not ctx.actor.may_see_institution(institution_id):
        raise Forbidden("forbidden_institution", "This institution is not yours to change.")


async def get_institution(ctx: Ctx, institution_id: int) -> Institution:
    institution = await ctx.session.get(Institution, institution_id)
    if institution is None or not ctx.actor.may_see_institution(institution_id):
        raise NotFound("institution_not_found", f"No institution with id {institution_id}.")
    return institution


async def list_institutions(ctx: Ctx) -> list[Institution]:
    query = select(Institution).order_by(Institution.id)
    if ctx.actor.institution_id is not None:
        query = query.where(Institution.id == ctx.actor.institution_id)
    return list((await ctx.session.scalars(query)).all())


async def get_group(ctx: Ctx, group_id: int) -> PatronGroup:
    group = await ctx.session.get(PatronGroup, group_id)
    if group is None or not ctx.actor.may_see_institution(group.institution_id):
        raise NotFound("group_not_found", f"No patron group with id {group_id}.")
    return group


async def group_by_code(ctx: Ctx, institution_id: int, code: str) -> PatronGroup:
    group = await ctx.session.scalar(
        select(PatronGroup).where(
            PatronGroup.institution_id == institution_id, PatronGroup.code == code
        )
    )
    if group is None:
        raise NotFound("group_not_found", f"No patron group {code!r} in this institution.")
    return group


async def list_groups(ctx: Ctx, institution_id: int) -> list[PatronGroup]:
    await get_institution(ctx, institution_id)
    query = select(PatronGroup).where(PatronGroup.institution_id == institution_id)
    return list((await ctx.session.scalars(query.order_by(PatronGroup.id))).all())


async def policy_for_group(ctx: Ctx, group_id: int) -> tuple[Institution, PatronGroup, Policy]:
    group = await ctx.session.get(PatronGroup, group_id)
    if group is None:
        raise NotFound("group_not_found", f"No patron group with id {group_id}.")
    institution = await ctx.session.get(Institution, group.institution_id)
    assert institution is not None  # foreign key
    return institution, group, policy_of(institution, group)


GROUP_OVERRIDES = frozenset({"max_wrong_pins", "fee_block_threshold_minor", "block_effects"})


def _check_institution_values(values: Mapping[str, Any]) -> None:
    # No agency (None) is a choice: collection is off.
    missing = sorted(k for k, v in values.items() if v is None and k != "collection_agency")
    if missing:
        raise InvalidInput("invalid_policy", f"These settings need a value: {', '.join(missing)}.")
    if "currency" in values:
        check_currency(values["currency"])
    if "timezone" in values:
        _check_timezone(values["timezone"])
    if "max_wrong_pins" in values and not 1 <= values["max_wrong_pins"] <= 20:
        raise InvalidInput("invalid_policy", "max_wrong_pins must be between 1 and 20.")
    if "fee_block_threshold_minor" in values and values["fee_block_threshold_minor"] < 1:
        raise InvalidInput("invalid_policy", "The fee-block threshold must be positive.")
    if "fee_block_comparison" in values:
        _enum(FeeComparison, values["fee_block_comparison"], "fee_block_comparison")
    if "fee_block_lifts_at" in values:
        _enum(FeeBlockLift, values["fee_block_lifts_at"], "fee_block_lifts_at")
    if values.get("block_effects") is not None:
        _check_effects(values["block_effects"])
    for key in ("activation_code_days", "password_reset_minutes", "card_valid_years"):
        if key in values and values[key] < 1:
            raise InvalidInput("invalid_policy", f"{key} must be at least 1.")
    for key, (low, high, what) in INSTITUTION_NUMBER_RANGES.items():
        if key in values:
            _check_number(values[key], low, high, what)
    if "payment_login" in values:
        _enum(PaymentLogin, values["payment_login"], "login asked for before paying")
    agency = values.get("collection_agency")
    if agency is not None and not (isinstance(agency, str) and 0 < len(agency.strip()) <= 100):
        raise InvalidInput(
            "invalid_policy", "The collection agency is a name of 1 to 100 characters, or none."
        )


def _check_timezone(name: Any) -> None:
    # An unknown zone stored here would break every date shown later (block end dates).
    try:
        ZoneInfo(str(name))
    except (ZoneInfoNotFoundError, ValueError, OSError):
        raise InvalidInput(
            "invalid_policy", f"{name!r} is not a time zone; use one like Europe/Copenhagen."
        ) from None


def _check_group_values(values: Mapping[str, Any]) -> None:
    # None on an override means "use the institution's setting"; other settings need a value.
    missing = sorted(k for k, v in values.items() if v is None and k not in GROUP_OVERRIDES)
    if missing:
        raise InvalidInput("invalid_policy", f"These settings need a value: {', '.join(missing)}.")
    if (values.get("card_replacement_fee_minor") or 0) < 0:
        raise InvalidInput("invalid_policy", "The card replacement fee cannot be negative.")
    if values.get("max_wrong_pins") is not None and not 1 <= values["max_wrong_pins"] <= 20:
        raise InvalidInput("invalid_policy", "max_wrong_pins must be between 1 and 20.")
    threshold = values.get("fee_block_threshold_minor")
    if threshold is not None and threshold < 1:
        raise InvalidInput("invalid_policy", "The fee-block threshold must be positive.")
    if values.get("field_owners") is not None:
        for name, owner in values["field_owners"].items():
            if name not in PERSONAL_FIELDS:
                known = ", ".join(PERSONAL_FIELDS)
                raise InvalidInput("invalid_policy", f"Unknown field {name!r}; fields: {known}.")
            _enum(FieldOwner, owner, f"owner of {name}")
    if values.get("block_effects") is not None:
        _check_effects(values["block_effects"])
    for key, (low, high, what) in GROUP_NUMBER_RANGES.items():
        if key in values:
            _check_number(values[key], low, high, what)
    if "lost_item_returned" in values:
        _enum(LostItemReturned, values["lost_item_returned"], "choice for a returned lost item")


def _check_number(value: Any, low: int, high: int, what: str) -> None:
    # bool is an int to Python, but "true" days is a mistake, not a number.
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise InvalidInput(
            "invalid_policy", f"{what} must be a whole number from {low} to {high}, not {value!r}."
        )


def _check_effects(effects: Mapping[str, Any]) -> None:
    for code, actions in effects.items():
        _enum(BlockCode, code, "block code")
        for action in actions:
            _enum(Action, action, f"action stopped by {code}")


def _enum(kind: Any, value: Any, what: str) -> None:
    try:
        kind(value)
    except ValueError:
        allowed = ", ".join(member.value for member in kind)
        raise InvalidInput(
            "invalid_policy", f"{value!r} is not a valid {what}; use {allowed}."
        ) from None


async def create_institution(
    ctx: Ctx, *, code: str, name: str, card_prefix: str, currency: str = "DKK", **values: Any
) -> Institution:
    _require_admin(ctx, None)
    if ctx.actor.institution_id is not None:
        raise Forbidden(
            "forbidden_institution", "Only a deployment administrator adds institutions."
        )
    if not card_prefix.isdigit() or not 1 <= len(card_prefix) <= 8:
        raise InvalidInput("invalid_policy", "A card prefix is 1–8 digits.")
    _check_institution_values({"currency": currency, **values})
    clash = await ctx.session.scalar(
        select(Institution).where(
            (Institution.code == code) | (Institution.card_prefix == card_prefix)
        )
    )
    if clash is not None:
        raise Conflict("institution_exists", "An institution with this code or prefix exists.")
    now = ctx.clock.now()
    institution = Institution(
        code=code,
        name=name,
        card_prefix=card_prefix,
        currency=currency,
        created_at=now,
        updated_at=now,
        **{k: v for k, v in values.items() if k in INSTITUTION_POLICY_FIELDS},
    )
    ctx.session.add(institution)
    await ctx.session.flush()
    await record(
        ctx, "institution:create", "institution", institution.id, institution_id=institution.id
    )
    return institution


async def update_institution(
    ctx: Ctx, institution_id: int, changes: Mapping[str, Any]
) -> Institution:
    _require_admin(ctx, institution_id)
    institution = await get_institution(ctx, institution_id)
    unknown = set(changes) - INSTITUTION_POLICY_FIELDS
    if unknown:
        raise InvalidInput("invalid_policy", f"Not a policy setting: {', '.join(sorted(unknown))}.")
    _check_institution_values(changes)
    for key, value in changes.items():
        setattr(institution, key, value)
    institution.updated_at = ctx.clock.now()
    await record(
        ctx,
        "policy:update",
        "institution",
        institution_id,
        institution_id=institution_id,
        changes=dict(changes),
    )
    return institution


async def create_group(
    ctx: Ctx, institution_id: int, *, code: str, name: str, **values: Any
) -> PatronGroup:
    _require_admin(ctx, institution_id)
    await get_institution(ctx, institution_id)
    _check_group_values(values)
    existing = await ctx.session.scalar(
        select(PatronGroup).where(
            PatronGroup.institution_id == institution_id, PatronGroup.code == code
        )
    )
    if existing is not None:
        raise Conflict("group_exists", f"The group {code!r} exists in this institution.")
    now = ctx.clock.now()
    values.setdefault("may_hold_physical_card", DEFAULT_MAY_HOLD_PHYSICAL.get(code, True))
    group = PatronGroup(
        institution_id=institution_id,
        code=code,
        name=name,
        created_at=now,
        updated_at=now,
        **{k: v for k, v in values.items() if k in GROUP_POLICY_FIELDS},
    )
    if group.field_owners is None or not group.field_owners:
        group.field_owners = {k: v.value for k, v in parse_owners(None, code).items()}
    ctx.session.add(group)
    await ctx.session.flush()
    await record(ctx, "group:create", "patron_group", group.id, institution_id=institution_id)
    return group


async def update_group(ctx: Ctx, group_id: int, changes: Mapping[str, Any]) -> PatronGroup:
    group = await get_group(ctx, group_id)
    _require_admin(ctx, group.institution_id)
    unknown = set(changes) - GROUP_POLICY_FIELDS
    if unknown:
        raise InvalidInput("invalid_policy", f"Not a group setting: {', '.join(sorted(unknown))}.")
    _check_group_values(changes)
    for key, value in changes.items():
        if key == "field_owners" and value is not None:
            value = {**(group.field_owners or {}), **value}
        setattr(group, key, value)
    group.updated_at = ctx.clock.now()
    await record(
        ctx,
        "policy:update",
        "patron_group",
        group_id,
        institution_id=group.institution_id,
        changes=dict(changes),
    )
    return group
