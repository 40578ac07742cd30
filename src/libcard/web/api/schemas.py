"""Request and response bodies of the API (Pydantic v2). Money is minor units + currency."""

from __future__ import annotations

from datetime import date, datetime
from typing import Annotated, Any

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, StringConstraints

from libcard.access.scopes import Scope
from libcard.cards.rules import CardKind
from libcard.context import ActorKind
from libcard.fees.rules import FeeType, PaymentMethod
from libcard.kit.money import format_minor
from libcard.policy.rules import (
    Action,
    BlockCode,
    FeeBlockLift,
    FeeComparison,
    FieldOwner,
    LostItemReturned,
    PaymentLogin,
)

Text200 = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=200)]
Text500 = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=500)]
Secret = Annotated[str, StringConstraints(min_length=1, max_length=200)]
MinorUnits = Annotated[int, Field(gt=0, le=100_000_000, description="Minor units (øre, cent).")]
AmountOrZero = Annotated[int, Field(ge=0, le=100_000_000, description="Minor units (øre, cent).")]
MAX_ID = 2**31 - 1  # ids are 32-bit integers on PostgreSQL; larger ones are refused up front
Id = Annotated[int, Field(ge=1, le=MAX_ID)]
AgencyName = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=100)]


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class Money(BaseModel):
    amount_minor: int
    currency: str
    amount: str = Field(description="The same amount as a decimal string, e.g. '225.00'.")

    @classmethod
    def of(cls, minor: int, currency: str) -> Money:
        return cls(amount_minor=minor, currency=currency, amount=format_minor(minor, currency))


# --- policy -----------------------------------------------------------------------------


class InstitutionPolicyIn(Strict):
    name: Text200 | None = None
    currency: Annotated[str, StringConstraints(pattern=r"^[A-Z]{3}$")] | None = None
    timezone: Text200 | None = None
    default_language: Annotated[str, StringConstraints(pattern=r"^(da|de|en)$")] | None = None
    max_wrong_pins: Annotated[int, Field(ge=1, le=20)] | None = None
    fee_block_threshold_minor: MinorUnits | None = None
    fee_block_comparison: FeeComparison | None = None
    fee_block_lifts_at: FeeBlockLift | None = None
    block_effects: dict[BlockCode, list[Action]] | None = None
    activation_code_days: Annotated[int, Field(ge=1, le=365)] | None = None
    password_reset_minutes: Annotated[int, Field(ge=5, le=1440)] | None = None
    card_valid_years: Annotated[int, Field(ge=1, le=50)] | None = None
    collection_agency: AgencyName | None = Field(
        default=None, description="The collection agency (R15); null: no debt goes to collection."
    )
    collection_min_debt_minor: MinorUnits | None = Field(
        default=None, description="The least open debt that gets a collection notice."
    )
    collection_min_age_days: Annotated[int, Field(ge=0, le=3650)] | None = Field(
        default=None, description="Days the oldest open fee must have been open first."
    )
    collection_notice_days: Annotated[int, Field(ge=1, le=90)] | None = Field(
        default=None, description="Days from the notice to the hand-over to the agency."
    )
    payment_login: PaymentLogin | None = None
    registry_grace_days: Annotated[int, Field(ge=0, le=365)] | None = Field(
        default=None,
        description="Days a student may be missing from the registry's full export before "
        "the account expires (docs/registry.md).",
    )


class InstitutionIn(InstitutionPolicyIn):
    code: Annotated[str, StringConstraints(pattern=r"^[a-z0-9-]{2,32}$")]
    name: Text200
    card_prefix: Annotated[str, StringConstraints(pattern=r"^[0-9]{1,8}$")]
    currency: Annotated[str, StringConstraints(pattern=r"^[A-Z]{3}$")] = "DKK"


class InstitutionOut(BaseModel):
    id: int
    code: str
    name: str
    card_prefix: str
    card_number_length: int
    currency: str
    timezone: str
    default_language: str
    max_wrong_pins: int
    fee_block_threshold: Money
    fee_block_comparison: FeeComparison
    fee_block_lifts_at: FeeBlockLift
    block_effects: dict[str, list[str]]
    activation_code_days: int
    password_reset_minutes: int
    card_valid_years: int
    collection_agency: str | None = Field(description="None: no debt goes to collection.")
    collection_min_debt: Money
    collection_min_age_days: int
    collection_notice_days: int
    payment_login: PaymentLogin
    registry_grace_days: int


class GroupPolicyIn(Strict):
    name: Text200 | None = None
    may_hold_physical_card: bool | None = None
    card_replacement_fee_minor: Annotated[int, Field(ge=0, le=100_000_000)] | None = None
    field_owners: dict[str, FieldOwner] | None = None
    max_wrong_pins: Annotated[int, Field(ge=1, le=20)] | None = None
    fee_block_threshold_minor: MinorUnits | None = None
    block_effects: dict[BlockCode, list[Action]] | None = None
    loan_days: Annotated[int, Field(ge=1, le=365, description="Check-out to due date.")] | None = (
        None
    )
    max_loans: Annotated[int, Field(ge=0, le=1000, description="0: cannot borrow.")] | None = None
    max_renewals: Annotated[int, Field(ge=0, le=100)] | None = None
    fine_per_day_minor: AmountOrZero | None = None
    fine_cap_minor: AmountOrZero | None = None
    fine_grace_days: Annotated[int, Field(ge=0, le=365)] | None = None
    lost_after_days: Annotated[int, Field(ge=1, le=3650)] | None = None
    lost_item_returned: LostItemReturned | None = None


class GroupIn(GroupPolicyIn):
    code: Annotated[str, StringConstraints(pattern=r"^[a-z0-9_-]{2,32}$")]
    name: Text200


class LoanRules(BaseModel):
    """A group's loan rules, overdue fines and lost items (the amounts are beside)."""

    loan_days: int
    max_loans: int
    max_renewals: int
    fine_grace_days: int = Field(description="Days overdue without a fine.")
    lost_after_days: int = Field(description="Overdue by more than this: counted as lost.")
    lost_item_returned: LostItemReturned = Field(
        description="The replacement invoice of a lost item that comes back: `cancel` waives "
        "the unpaid part, `credit` also refunds what was paid, `keep` lets it stand."
    )


class EffectivePolicy(LoanRules):
    fine_per_day: Money
    fine_cap: Money = Field(description="The most one loan's overdue fine can reach.")
    currency: str
    max_wrong_pins: int
    fee_block_threshold: Money
    fee_block_comparison: FeeComparison
    fee_block_lifts_at: FeeBlockLift
    may_hold_physical_card: bool
    card_replacement_fee: Money
    field_owners: dict[str, FieldOwner]
    block_effects: dict[str, list[Action]]


class GroupOut(LoanRules):
    fine_per_day_minor: int
    fine_cap_minor: int
    id: int
    institution_id: int
    code: str
    name: str
    may_hold_physical_card: bool
    card_replacement_fee_minor: int
    field_owners: dict[str, Any]
    max_wrong_pins: int | None
    fee_block_threshold_minor: int | None
    block_effects: dict[str, Any] | None
    effective: EffectivePolicy


# --- patrons and cards ------------------------------------------------------------------


class PersonalData(Strict):
    first_name: Annotated[str, StringConstraints(max_length=100)] | None = None
    last_name: Annotated[str, StringConstraints(max_length=100)] | None = None
    birth_date: date | None = None
    email: Annotated[str, StringConstraints(max_length=254)] | None = None
    institutional_email: Annotated[str, StringConstraints(max_length=254)] | None = None
    phone: Annotated[str, StringConstraints(max_length=32)] | None = None
    street: Annotated[str, StringConstraints(max_length=200)] | None = None
    postal_code: Annotated[str, StringConstraints(max_length=16)] | None = None
    city: Annotated[str, StringConstraints(max_length=100)] | None = None
    country: Annotated[str, StringConstraints(max_length=2)] | None = None
    preferred_language: Annotated[str, StringConstraints(max_length=5)] | None = None


class PatronIn(PersonalData):
    group: Annotated[str, StringConstraints(min_length=1, max_length=32)]
    first_name: Annotated[str, StringConstraints(min_length=1, max_length=100)]
    last_name: Annotated[str, StringConstraints(min_length=1, max_length=100)]
    registry_id: Annotated[str, StringConstraints(min_length=1, max_length=64)] | None = None
    identity_id: Annotated[str, StringConstraints(min_length=1, max_length=64)] | None = None
    activation_channel: Annotated[str, StringConstraints(pattern=r"^(email|letter)$")] | None = None


class GroupChangeIn(Strict):
    group: Annotated[str, StringConstraints(min_length=1, max_length=32)]


class FieldInfo(BaseModel):
    owner: FieldOwner
    editable_by_you: bool


class CardOut(BaseModel):
    id: int
    kind: CardKind
    number: str | None = Field(description="None for a health card: only its digest is kept.")
    state: str
    issued_at: datetime
    activated_at: datetime | None
    expires_at: datetime | None
    replaces_card_id: int | None


class PatronOut(BaseModel):
    id: int
    institution_id: int
    group: str
    registry_id: str | None
    identity_id: str | None
    first_name: str
    last_name: str
    birth_date: date | None
    email: str | None
    institutional_email: str | None
    phone: str | None
    street: str | None
    postal_code: str | None
    city: str | None
    country: str | None
    preferred_language: str | None
    activated: bool
    activated_at: datetime | None
    created_at: datetime
    fields: dict[str, FieldInfo] = Field(description="Who owns each personal field (R8, R9).")


class RegistrationOut(BaseModel):
    patron: PatronOut
    ecard: CardOut
    activation_code: str | None = Field(description="Shown once, for the letter or the e-mail.")


class CardIn(Strict):
    kind: CardKind
    number: Annotated[str, StringConstraints(min_length=1, max_length=40)] | None = None


class PhotoIdIn(Strict):
    photo_id_kind: Annotated[str, StringConstraints(min_length=1, max_length=32)]
    note: Text500 | None = None


class ReplaceIn(Strict):
    number: Annotated[str, StringConstraints(min_length=1, max_length=40)] | None = None


class BlockOut(BaseModel):
    id: int | None = Field(description="Set for stored blocks (staff, card retained).")
    code: BlockCode
    title: str
    reason: str
    lift: str = Field(description="The exact step that lifts the block, in the asked language.")
    effects: list[Action]
    since: datetime
    ends_at: datetime | None
    amount: Money | None


class FeeOut(BaseModel):
    id: int
    type: FeeType
    description: str
    created_at: datetime
    amount: Money
    paid: Money
    waived: Money
    refunded: Money
    outstanding: Money
    state: str
    settled_at: datetime | None
    item_barcode: str | None


class ReplacementOut(BaseModel):
    old: CardOut
    new: CardOut
    fee: FeeOut | None


class Refusal(BaseModel):
    code: str
    message: str


class StatusPatron(BaseModel):
    id: int
    name: str
    group: str
    institution_id: int


class CardStatusOut(BaseModel):
    card: CardOut
    patron: StatusPatron
    usable: bool
    refusal: Refusal | None
    blocks: list[BlockOut]
    may: dict[Action, bool]
    balance: Money
    language: str


class CardNumberIn(Strict):
    number: Annotated[str, StringConstraints(min_length=1, max_length=40)]


# --- activation, PIN, password ----------------------------------------------------------


class ActivationCodeIn(Strict):
    channel: Annotated[str, StringConstraints(pattern=r"^(email|letter)$")]


class ActivationCodeOut(BaseModel):
    code: str
    expires_at: datetime
    channel: str


class ActivateIn(Strict):
    card_number: Annotated[str, StringConstraints(min_length=1, max_length=40)]
    code: Secret
    password: Secret
    pin: Annotated[str, StringConstraints(min_length=1, max_length=16)]


class ActivatedOut(BaseModel):
    patron_id: int
    activated_at: datetime


class PinVerifyIn(Strict):
    pin: Annotated[str, StringConstraints(min_length=1, max_length=16)]


class PinVerifyOut(BaseModel):
    valid: bool
    locked: bool
    attempts_left: int
    card_state: str
    message: str | None


class CardActivationIn(Strict):
    pin: Annotated[str, StringConstraints(min_length=1, max_length=16)] | None = None
    photo_id_kind: Annotated[str, StringConstraints(min_length=1, max_length=32)] | None = None


class PinChangeIn(Strict):
    password: Secret
    new_pin: Annotated[str, StringConstraints(min_length=1, max_length=16)]


class PasswordChangeIn(Strict):
    current_password: Secret
    new_password: Secret


# --- fees and payments ------------------------------------------------------------------


class ChargeIn(Strict):
    type: FeeType
    amount_minor: MinorUnits
    description: Text500
    item_barcode: Annotated[str, StringConstraints(min_length=1, max_length=64)] | None = None


class FeeActionIn(Strict):
    reason: Text500
    amount_minor: MinorUnits | None = None


class PaymentIn(Strict):
    amount_minor: MinorUnits
    method: PaymentMethod
    idempotency_key: Annotated[str, StringConstraints(min_length=1, max_length=200)] | None = None
    reference: Text200 | None = None
    currency: Annotated[str, StringConstraints(pattern=r"^[A-Z]{3}$")] | None = None
    fee_ids: list[Id] | None = None


class AccountFees(BaseModel):
    balance: Money
    fees: list[FeeOut]


class PaymentOut(BaseModel):
    id: int
    amount: Money
    method: PaymentMethod
    reference: str | None
    created_at: datetime
    balance: Money
    blocks: list[BlockOut] = Field(description="Blocks that still hold after this payment.")


# --- items and loans --------------------------------------------------------------------

Barcode = Annotated[
    str,
    StringConstraints(strip_whitespace=True, min_length=1, max_length=64),
    Field(description="An item barcode: letters, digits, dot, dash, underscore."),
]
CardNumber = Annotated[str, StringConstraints(min_length=1, max_length=40)]


class ItemIn(Strict):
    barcode: Barcode
    title: Text500
    branch_id: Id
    replacement_cost_minor: AmountOrZero
    loanable: bool = True
    institution_id: Id | None = Field(
        default=None, description="Needed only with a token for every institution."
    )


class ItemChangeIn(Strict):
    """What to change; a field left out (or null) stays as it is. A barcode is not changed."""

    title: Text500 | None = None
    branch_id: Id | None = None
    replacement_cost_minor: AmountOrZero | None = None
    loanable: bool | None = None


class ItemOut(BaseModel):
    id: int
    institution_id: int
    branch_id: int
    barcode: str
    title: str
    replacement_cost: Money
    loanable: bool
    on_loan: bool
    due_at: datetime | None = Field(description="When the open loan is due; null when in.")


class ImportErrorOut(BaseModel):
    line: int = Field(description="The line of the CSV text; the header is line 1.")
    code: str
    message: str


class ImportReportOut(BaseModel):
    created: int
    updated: int
    unchanged: int
    errors: list[ImportErrorOut] = Field(description="Rows skipped, each with why.")


class CheckoutIn(Strict):
    card_number: CardNumber
    item_barcode: Barcode


class CheckinIn(Strict):
    item_barcode: Barcode
    institution_id: Id | None = Field(
        default=None, description="Needed only with a token for every institution."
    )


class RenewIn(CheckinIn):
    patron_id: Id | None = Field(
        default=None, description="Whose loan it must be; another patron's is refused."
    )


class LoanItemOut(BaseModel):
    id: int
    barcode: str
    title: str


class LoanOut(BaseModel):
    id: int
    patron_id: int
    institution_id: int
    card_id: int
    branch_id: int
    item: LoanItemOut
    checked_out_at: datetime
    due_at: datetime
    renewals: int
    renewals_allowed: int = Field(description="The patron group's most renewals of a loan.")
    overdue: bool = Field(description="Past its due date now, or returned after it.")
    lost_at: datetime | None = Field(description="When the item was declared lost, if it was.")
    returned_at: datetime | None


# --- blocks, audit, tokens --------------------------------------------------------------


class StaffBlockIn(Strict):
    reason: Text500
    ends_at: AwareDatetime | None = None  # with a zone or offset: naive times are ambiguous


class LiftIn(Strict):
    note: Text500 | None = None


class AuditOut(BaseModel):
    id: int
    at: datetime
    actor_kind: str
    actor_label: str
    action: str
    subject_kind: str
    subject_id: str | None
    patron_id: int | None
    details: dict[str, Any]


class TokenIn(Strict):
    name: Text200
    actor_kind: ActorKind
    scopes: Annotated[list[Scope], Field(min_length=1)]
    institution_id: Id | None = None
    patron_id: Id | None = None
    valid_days: Annotated[int, Field(ge=1, le=3650)] | None = None


class TokenOut(BaseModel):
    id: int
    name: str
    actor_kind: str
    scopes: list[str]
    institution_id: int | None
    patron_id: int | None
    expires_at: datetime | None
    secret: str | None = Field(default=None, description="Shown once, when the token is made.")
