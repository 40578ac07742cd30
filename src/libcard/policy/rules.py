"""Policy as plain values: defaults, the effective policy of a patron group, field ownership."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from libcard.context import STAFF_KINDS, ActorKind


class Action(StrEnum):
    """What a block can stop (R13)."""

    BORROW = "borrow"
    RENEW = "renew"
    HOLD = "hold"
    DIGITAL = "digital"


ALL_ACTIONS: frozenset[Action] = frozenset(Action)


class BlockCode(StrEnum):
    """Block codes; policy says which actions each stops, blocks/ says when each holds."""

    PIN_LOCKED = "pin_locked"  # R14a
    FEE_THRESHOLD = "fee_threshold"  # R14b
    REPLACEMENT_UNPAID = "replacement_unpaid"  # R14c
    IN_COLLECTION = "in_collection"  # R14d
    STAFF = "staff"  # R14e
    CARD_RETAINED = "card_retained"  # a self-checkout machine kept the card


class FieldOwner(StrEnum):
    REGISTRY = "registry"
    IDENTITY_PORTAL = "identity_portal"
    DESK = "desk"
    PATRON = "patron"


# Personal fields, grouped as patrons and staff think of them: an address is changed as one.
PERSONAL_FIELDS: dict[str, tuple[str, ...]] = {
    "name": ("first_name", "last_name"),
    "birth_date": ("birth_date",),
    "address": ("street", "postal_code", "city", "country"),
    "email": ("email",),
    "institutional_email": ("institutional_email",),
    "phone": ("phone",),
    "preferred_language": ("preferred_language",),
}
COLUMN_TO_FIELD: dict[str, str] = {
    column: name for name, columns in PERSONAL_FIELDS.items() for column in columns
}


def _owners(default: FieldOwner, **overrides: FieldOwner) -> dict[str, FieldOwner]:
    owners = dict.fromkeys(PERSONAL_FIELDS, default)
    owners["preferred_language"] = FieldOwner.PATRON  # a setting of the pages, not personal data
    owners.update(overrides)
    return owners


# R8/R9 defaults. Students: everything from the registry. Employees: everything from the
# identity portal. Everyone else: the desk owns name, birth date and address; the patron
# owns e-mail and phone.
DEFAULT_FIELD_OWNERS: dict[str, dict[str, FieldOwner]] = {
    "student": _owners(FieldOwner.REGISTRY),
    "employee": _owners(FieldOwner.IDENTITY_PORTAL),
    "external": _owners(FieldOwner.DESK, email=FieldOwner.PATRON, phone=FieldOwner.PATRON),
}
GENERIC_FIELD_OWNERS = DEFAULT_FIELD_OWNERS["external"]

# R4: students hold no physical card by default; employees and externals may.
DEFAULT_MAY_HOLD_PHYSICAL = {"student": False, "employee": True, "external": True}

# Which actors may write a field each owner owns. The registry and the identity portal are
# sole owners (R9: nobody here changes an institutional e-mail); what the patron owns, the desk
# may also change for them when asked in person; admins may do what the desk does.
WRITERS: dict[FieldOwner, frozenset[ActorKind]] = {
    FieldOwner.REGISTRY: frozenset({ActorKind.REGISTRY}),
    FieldOwner.IDENTITY_PORTAL: frozenset({ActorKind.IDENTITY_PORTAL}),
    FieldOwner.DESK: STAFF_KINDS,
    FieldOwner.PATRON: STAFF_KINDS | {ActorKind.PATRON},
}


def may_write(owner: FieldOwner, actor: ActorKind) -> bool:
    return actor in WRITERS[owner]


class FeeComparison(StrEnum):
    AT_OR_ABOVE = "ge"  # the default: 225.00 blocks, 224.99 does not
    ABOVE = "gt"


class FeeBlockLift(StrEnum):
    ZERO = "zero"  # lifted when all debt is paid (R14b)
    BELOW_THRESHOLD = "below_threshold"


class LostItemReturned(StrEnum):
    """What becomes of a replacement invoice when the lost item comes back after all."""

    CANCEL = "cancel"  # the unpaid part is waived; what was paid stays paid
    CREDIT = "credit"  # cancelled in full: the unpaid part waived, the paid part refunded
    KEEP = "keep"  # the invoice stands


class PaymentLogin(StrEnum):
    """What login the payment overview asks for before a patron pays online (R16)."""

    STRONG = "strong"  # national eID or institutional single sign-on, through the broker
    NONE = "none"  # the portal login is enough


@dataclass(frozen=True)
class Policy:
    """The effective policy for one patron group of one institution."""

    currency: str = "DKK"
    max_wrong_pins: int = 3
    fee_block_threshold_minor: int = 22500
    fee_block_comparison: FeeComparison = FeeComparison.AT_OR_ABOVE
    fee_block_lifts_at: FeeBlockLift = FeeBlockLift.ZERO
    may_hold_physical_card: bool = True
    card_replacement_fee_minor: int = 0
    field_owners: Mapping[str, FieldOwner] = field(default_factory=lambda: GENERIC_FIELD_OWNERS)
    block_effects: Mapping[str, frozenset[Action]] = field(default_factory=dict)
    loan_days: int = 28
    max_loans: int = 50
    max_renewals: int = 3
    # Overdue fines: per local day overdue, at most the cap per loan, none within the grace
    # days (past them the fine counts from the first overdue day).
    fine_per_day_minor: int = 500
    fine_cap_minor: int = 10000
    fine_grace_days: int = 0
    # After this many days overdue the item counts as lost and a replacement invoice is made.
    lost_after_days: int = 60
    lost_item_returned: LostItemReturned = LostItemReturned.CANCEL
    # Collection (R15), institution-wide; no agency means no debt goes to collection.
    collection_agency: str | None = None
    collection_min_debt_minor: int = 10000
    collection_min_age_days: int = 30
    collection_notice_days: int = 7
    payment_login: PaymentLogin = PaymentLogin.STRONG

    def effects_of(self, block_code: str) -> frozenset[Action]:
        """Blocks stop every action unless policy narrows them (R13)."""
        return self.block_effects.get(block_code, ALL_ACTIONS)

    def owner_of(self, personal_field: str) -> FieldOwner:
        return self.field_owners.get(personal_field, FieldOwner.DESK)

    def fee_threshold_reached(self, balance_minor: int) -> bool:
        if self.fee_block_comparison is FeeComparison.ABOVE:
            return balance_minor > self.fee_block_threshold_minor
        return balance_minor >= self.fee_block_threshold_minor


def parse_effects(raw: Mapping[str, Any] | None) -> dict[str, frozenset[Action]]:
    return {code: frozenset(Action(a) for a in actions) for code, actions in (raw or {}).items()}


def parse_owners(raw: Mapping[str, Any] | None, group_code: str) -> dict[str, FieldOwner]:
    owners = dict(DEFAULT_FIELD_OWNERS.get(group_code, GENERIC_FIELD_OWNERS))
    owners.update({name: FieldOwner(owner) for name, owner in (raw or {}).items()})
    return owners
