"""What every service call carries: the transaction, the clock, the keys, and who is acting."""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum

from sqlalchemy.ext.asyncio import AsyncSession

from libcard.kit.clock import Clock
from libcard.kit.secrets import Keyring


class ActorKind(StrEnum):
    PATRON = "patron"
    DESK = "desk"
    SUPERVISOR = "supervisor"  # the desk, plus waivers and refunds
    ADMIN = "admin"
    REGISTRY = "registry"
    IDENTITY_PORTAL = "identity_portal"
    CAMPUS_CARD = "campus_card"
    AGENCY = "agency"
    TERMINAL = "terminal"
    SERVICE = "service"  # a digital service or catalogue that only asks about cards
    SYSTEM = "system"  # libcard itself: jobs, the demo loader, migrations


STAFF_KINDS = frozenset({ActorKind.DESK, ActorKind.SUPERVISOR, ActorKind.ADMIN})
# Who may forgive or give back money: not the desk alone (issue of trust, not of skill).
FEE_FORGIVERS = frozenset({ActorKind.SUPERVISOR, ActorKind.ADMIN, ActorKind.SYSTEM})


@dataclass(frozen=True)
class Actor:
    """Who is acting. `institution_id` None means every institution (a deployment admin)."""

    kind: ActorKind
    label: str
    id: str | None = None
    institution_id: int | None = None
    patron_id: int | None = None  # set when the actor is, or acts only for, one patron
    branch_id: int | None = None  # the lending desk a staff member works at

    @property
    def is_staff(self) -> bool:
        return self.kind in STAFF_KINDS

    def may_see_institution(self, institution_id: int) -> bool:
        return self.institution_id is None or self.institution_id == institution_id

    def may_see_patron(self, patron_id: int, institution_id: int) -> bool:
        if not self.may_see_institution(institution_id):
            return False
        return self.patron_id is None or self.patron_id == patron_id


SYSTEM_ACTOR = Actor(kind=ActorKind.SYSTEM, label="libcard")


@dataclass
class Ctx:
    session: AsyncSession
    clock: Clock
    keyring: Keyring
    actor: Actor = field(default=SYSTEM_ACTOR)
    # Why a person does what they do now (a desk form's reason); every audit event keeps it.
    reason: str | None = None

    def as_actor(self, actor: Actor) -> Ctx:
        return Ctx(self.session, self.clock, self.keyring, actor, self.reason)

    def because(self, reason: str | None) -> Ctx:
        text = (reason or "").strip()[:500] or None
        return Ctx(self.session, self.clock, self.keyring, self.actor, text)
