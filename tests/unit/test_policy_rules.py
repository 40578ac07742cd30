"""Policy defaults, field ownership and who may write what (policy/rules.py; R4, R8, R9, R13)."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from libcard.context import ActorKind
from libcard.policy.rules import (
    ALL_ACTIONS,
    COLUMN_TO_FIELD,
    DEFAULT_FIELD_OWNERS,
    DEFAULT_MAY_HOLD_PHYSICAL,
    GENERIC_FIELD_OWNERS,
    PERSONAL_FIELDS,
    Action,
    BlockCode,
    FeeComparison,
    FieldOwner,
    Policy,
    may_write,
    parse_effects,
    parse_owners,
)

SOURCE_SYSTEM_FIELDS = [f for f in PERSONAL_FIELDS if f != "preferred_language"]


# --- default owners (R8, R9) -----------------------------------------------------------


@pytest.mark.parametrize("personal_field", SOURCE_SYSTEM_FIELDS)
def test_students_personal_data_comes_from_the_registry(personal_field: str) -> None:
    """R8: a student's personal data is the student registry's, read-only here."""
    assert DEFAULT_FIELD_OWNERS["student"][personal_field] is FieldOwner.REGISTRY


@pytest.mark.parametrize("personal_field", SOURCE_SYSTEM_FIELDS)
def test_employees_personal_data_comes_from_the_identity_portal(personal_field: str) -> None:
    """R8: an employee's personal data is the staff identity portal's."""
    assert DEFAULT_FIELD_OWNERS["employee"][personal_field] is FieldOwner.IDENTITY_PORTAL


@pytest.mark.parametrize("group", ["student", "employee", "external"])
def test_everyone_chooses_their_own_page_language(group: str) -> None:
    assert DEFAULT_FIELD_OWNERS[group]["preferred_language"] is FieldOwner.PATRON


def test_externals_address_is_the_desks_and_email_the_patrons() -> None:
    """R8: the postal address only at the lending desk; the e-mail in the portal."""
    owners = DEFAULT_FIELD_OWNERS["external"]
    assert owners["address"] is FieldOwner.DESK
    assert owners["email"] is FieldOwner.PATRON
    assert owners["name"] is FieldOwner.DESK
    assert owners["birth_date"] is FieldOwner.DESK


def test_every_group_has_an_owner_for_every_field() -> None:
    for owners in DEFAULT_FIELD_OWNERS.values():
        assert set(owners) == set(PERSONAL_FIELDS)


def test_address_columns_are_changed_as_one_field() -> None:
    for column in ("street", "postal_code", "city", "country"):
        assert COLUMN_TO_FIELD[column] == "address"
    assert COLUMN_TO_FIELD["institutional_email"] == "institutional_email"


def test_physical_cards_default_to_employees_and_externals() -> None:
    """R4: students hold no physical card by default."""
    assert DEFAULT_MAY_HOLD_PHYSICAL == {"student": False, "employee": True, "external": True}


# --- may_write ------------------------------------------------------------------------

WRITERS = {
    FieldOwner.REGISTRY: {ActorKind.REGISTRY},
    FieldOwner.IDENTITY_PORTAL: {ActorKind.IDENTITY_PORTAL},
    FieldOwner.DESK: {ActorKind.DESK, ActorKind.SUPERVISOR, ActorKind.ADMIN},
    FieldOwner.PATRON: {ActorKind.PATRON, ActorKind.DESK, ActorKind.SUPERVISOR, ActorKind.ADMIN},
}


@pytest.mark.parametrize("owner", list(FieldOwner))
@pytest.mark.parametrize("actor", list(ActorKind))
def test_may_write_matrix(owner: FieldOwner, actor: ActorKind) -> None:
    """R8: source systems are sole owners; the desk (and admins) may do what patrons may."""
    assert may_write(owner, actor) is (actor in WRITERS[owner])


@pytest.mark.parametrize("actor", list(ActorKind))
def test_a_students_institutional_email_is_writable_only_by_the_registry(
    actor: ActorKind,
) -> None:
    """R9: nobody here changes it -- not the patron, not the desk, not even an admin."""
    policy = Policy(field_owners=parse_owners(None, "student"))
    owner = policy.owner_of("institutional_email")
    assert may_write(owner, actor) is (actor is ActorKind.REGISTRY)


@pytest.mark.parametrize("actor", list(ActorKind))
def test_an_employees_institutional_email_is_writable_only_by_the_identity_portal(
    actor: ActorKind,
) -> None:
    """R9."""
    policy = Policy(field_owners=parse_owners(None, "employee"))
    owner = policy.owner_of("institutional_email")
    assert may_write(owner, actor) is (actor is ActorKind.IDENTITY_PORTAL)


def test_an_external_changes_their_email_but_not_their_address() -> None:
    """R8."""
    policy = Policy(field_owners=parse_owners(None, "external"))
    assert may_write(policy.owner_of("email"), ActorKind.PATRON)
    assert not may_write(policy.owner_of("address"), ActorKind.PATRON)
    assert may_write(policy.owner_of("address"), ActorKind.DESK)


def test_a_student_may_not_change_their_address_nor_may_the_desk() -> None:
    """R8: the portal says to contact the university service centre instead."""
    policy = Policy(field_owners=parse_owners(None, "student"))
    for actor in (ActorKind.PATRON, ActorKind.DESK, ActorKind.ADMIN):
        assert not may_write(policy.owner_of("address"), actor)


def test_an_unknown_field_is_the_desks() -> None:
    assert Policy().owner_of("shoe_size") is FieldOwner.DESK


# --- parse_owners / parse_effects ------------------------------------------------------


def test_parse_owners_starts_from_the_groups_defaults() -> None:
    assert parse_owners(None, "student") == DEFAULT_FIELD_OWNERS["student"]
    assert parse_owners({}, "employee") == DEFAULT_FIELD_OWNERS["employee"]


def test_parse_owners_uses_the_generic_defaults_for_other_groups() -> None:
    """R8: 'every other group' is treated like externals."""
    assert parse_owners(None, "pensioner") == GENERIC_FIELD_OWNERS


def test_parse_owners_applies_overrides_without_changing_the_defaults() -> None:
    owners = parse_owners({"address": "patron", "phone": "desk"}, "external")
    assert owners["address"] is FieldOwner.PATRON
    assert owners["phone"] is FieldOwner.DESK
    assert owners["email"] is FieldOwner.PATRON
    # The next institution still gets the shipped defaults.
    assert DEFAULT_FIELD_OWNERS["external"]["address"] is FieldOwner.DESK
    assert parse_owners(None, "external")["address"] is FieldOwner.DESK


def test_parse_owners_refuses_an_unknown_owner() -> None:
    with pytest.raises(ValueError, match="nobody"):
        parse_owners({"email": "nobody"}, "external")


def test_parse_effects_reads_lists_of_action_names() -> None:
    effects = parse_effects({"fee_threshold": ["borrow", "renew"], "staff": []})
    assert effects == {
        "fee_threshold": frozenset({Action.BORROW, Action.RENEW}),
        "staff": frozenset(),
    }
    assert parse_effects(None) == {}


def test_parse_effects_refuses_an_unknown_action() -> None:
    with pytest.raises(ValueError, match="fly"):
        parse_effects({"staff": ["fly"]})


def test_effects_default_to_every_action_and_can_be_narrowed() -> None:
    """R13."""
    policy = Policy(block_effects=parse_effects({"fee_threshold": ["borrow"]}))
    assert policy.effects_of(BlockCode.FEE_THRESHOLD) == frozenset({Action.BORROW})
    assert policy.effects_of(BlockCode.STAFF) == ALL_ACTIONS
    assert Policy().effects_of(BlockCode.IN_COLLECTION) == ALL_ACTIONS


# --- fee threshold ----------------------------------------------------------------------


def test_default_threshold_is_reached_at_225_kroner() -> None:
    """R14b: default 225.00 DKK, at or above."""
    policy = Policy()
    assert policy.fee_block_comparison is FeeComparison.AT_OR_ABOVE
    assert policy.fee_threshold_reached(22500)
    assert not policy.fee_threshold_reached(22499)


def test_gt_threshold_is_reached_only_above_it() -> None:
    policy = Policy(fee_block_comparison=FeeComparison("gt"))
    assert not policy.fee_threshold_reached(22500)
    assert policy.fee_threshold_reached(22501)


@given(
    st.integers(min_value=0, max_value=100_000),
    st.integers(min_value=-100_000, max_value=200_000),
)
def test_threshold_comparisons_differ_only_at_the_threshold(threshold: int, balance: int) -> None:
    ge = Policy(fee_block_threshold_minor=threshold, fee_block_comparison=FeeComparison.AT_OR_ABOVE)
    gt = Policy(fee_block_threshold_minor=threshold, fee_block_comparison=FeeComparison.ABOVE)
    assert ge.fee_threshold_reached(balance) is (balance >= threshold)
    assert gt.fee_threshold_reached(balance) is (balance > threshold)
