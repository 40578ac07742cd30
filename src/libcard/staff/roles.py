"""Staff roles and what each may do. Pure: no session, no clock."""

from __future__ import annotations

from enum import StrEnum

from libcard.context import ActorKind


class StaffRole(StrEnum):
    DESK = "desk"  # the lending desk's daily work
    SUPERVISOR = "supervisor"  # the desk, plus waiving and refunding fees
    ADMIN = "admin"  # all of that, plus policy, branches, terminals, tokens and staff


ACTOR_KIND = {
    StaffRole.DESK: ActorKind.DESK,
    StaffRole.SUPERVISOR: ActorKind.SUPERVISOR,
    StaffRole.ADMIN: ActorKind.ADMIN,
}
RANK = {StaffRole.DESK: 1, StaffRole.SUPERVISOR: 2, StaffRole.ADMIN: 3}


def at_least(role: StaffRole, needed: StaffRole) -> bool:
    """Each role may do everything the roles below it may."""
    return RANK[role] >= RANK[needed]
