"""Staff roles and one-time codes: pure rules, no database."""

from __future__ import annotations

import pyotp
from hypothesis import given
from hypothesis import strategies as st

from libcard.context import FEE_FORGIVERS, STAFF_KINDS, ActorKind
from libcard.staff import totp
from libcard.staff.roles import ACTOR_KIND, StaffRole, at_least


def test_each_role_may_do_what_the_roles_below_it_may() -> None:
    assert at_least(StaffRole.ADMIN, StaffRole.SUPERVISOR)
    assert at_least(StaffRole.SUPERVISOR, StaffRole.DESK)
    assert not at_least(StaffRole.DESK, StaffRole.SUPERVISOR)
    assert not at_least(StaffRole.SUPERVISOR, StaffRole.ADMIN)


def test_every_role_acts_as_staff_and_only_supervisors_and_admins_forgive_fees() -> None:
    assert {ACTOR_KIND[role] for role in StaffRole} == STAFF_KINDS
    forgivers = {role for role in StaffRole if ACTOR_KIND[role] in FEE_FORGIVERS}
    assert forgivers == {StaffRole.SUPERVISOR, StaffRole.ADMIN}
    assert ActorKind.DESK not in FEE_FORGIVERS


SECRET = "JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP"


@given(st.integers(min_value=10**9, max_value=4 * 10**9))
def test_a_code_matches_its_own_step_and_one_either_side(moment: int) -> None:
    step = moment // totp.STEP_SECONDS
    code = totp.code_at(SECRET, moment)
    assert totp.matching_step(SECRET, code, moment) == step
    assert totp.matching_step(SECRET, code, moment + totp.STEP_SECONDS) == step
    assert totp.matching_step(SECRET, code, moment - totp.STEP_SECONDS) == step


def test_codes_of_other_steps_and_malformed_codes_do_not_match() -> None:
    moment = 1_800_000_000
    old = totp.code_at(SECRET, moment - 2 * totp.STEP_SECONDS)
    if old != totp.code_at(SECRET, moment):  # a collision of two steps is 1 in a million
        assert totp.matching_step(SECRET, old, moment) is None
    for typed in ("", "12345", "1234567", "abcdef"):
        assert totp.matching_step(SECRET, typed, moment) is None
    # Spaces as apps show them ("123 456") are fine.
    code = totp.code_at(SECRET, moment)
    assert totp.matching_step(SECRET, f"{code[:3]} {code[3:]}", moment) is not None


def test_the_provisioning_uri_names_the_issuer_and_the_user() -> None:
    uri = totp.provisioning_uri(SECRET, "anna", "libcard nordby")
    parsed = pyotp.parse_uri(uri)
    assert parsed.secret == SECRET
    assert parsed.name == "anna"
    assert parsed.issuer == "libcard nordby"
