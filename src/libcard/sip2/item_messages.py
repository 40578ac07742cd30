"""SIP2 messages about items: checkout, checkin, renew, renew all, item information, item
status update, hold."""

# The field helpers return dataclasses.field(...); RUF009 only recognises field() itself.
# ruff: noqa: RUF009

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from libcard.sip2.fields import (
    COUNT,
    DATE,
    FLAG,
    MAYBE_FLAG,
    OK,
    Ok,
    Text,
)
from libcard.sip2.message_base import (
    FEE_TYPE,
    HOLD_TYPE,
    NB_DATE,
    TWO_DIGITS,
    VAR_DATE,
    VAR_FEE_TYPE,
    VAR_FLAG,
    AcsMessage,
    ScMessage,
    fixed,
    optional,
    repeated,
    required,
)

# --- items -----------------------------------------------------------------------------------


@dataclass(frozen=True, kw_only=True)
class CheckoutRequest(ScMessage):
    MESSAGE_ID = "11"
    sc_renewal_policy: bool = fixed(FLAG)
    no_block: bool = fixed(FLAG)
    transaction_date: datetime = fixed(DATE)
    nb_due_date: datetime | None = fixed(NB_DATE)
    institution_id: str = required("AO")
    patron_identifier: str = required("AA")
    item_identifier: str = required("AB")
    terminal_password: str = required("AC", secret=True)
    item_properties: str | None = optional("CH")
    patron_password: str | None = optional("AD", secret=True)
    fee_acknowledged: bool | None = optional("BO", VAR_FLAG)
    cancel: bool | None = optional("BI", VAR_FLAG)


@dataclass(frozen=True, kw_only=True)
class _LoanResponse(AcsMessage):
    """12 and 30 alike: `due_date` (AH) is free text by the spec ("any format");
    `magnetic_media` and `desensitize` are None for "U" (unknown)."""

    ok: bool = fixed(OK)
    renewal_ok: bool = fixed(FLAG)
    magnetic_media: bool | None = fixed(MAYBE_FLAG)
    desensitize: bool | None = fixed(MAYBE_FLAG)
    transaction_date: datetime = fixed(DATE)
    institution_id: str = required("AO")
    patron_identifier: str = required("AA")
    item_identifier: str = required("AB")
    title_identifier: str = required("AJ")
    due_date: str = required("AH")
    fee_type: int | None = optional("BT", VAR_FEE_TYPE)
    security_inhibit: bool | None = optional("CI", VAR_FLAG)
    currency_type: str | None = optional("BH")
    fee_amount: str | None = optional("BV")
    media_type: str | None = optional("CK")
    item_properties: str | None = optional("CH")
    transaction_id: str | None = optional("BK")
    screen_messages: tuple[str, ...] = repeated("AF")
    print_lines: tuple[str, ...] = repeated("AG")


@dataclass(frozen=True, kw_only=True)
class CheckoutResponse(_LoanResponse):
    MESSAGE_ID = "12"


@dataclass(frozen=True, kw_only=True)
class CheckinRequest(ScMessage):
    MESSAGE_ID = "09"
    no_block: bool = fixed(FLAG)
    transaction_date: datetime = fixed(DATE)
    return_date: datetime | None = fixed(NB_DATE)
    current_location: str = required("AP")
    institution_id: str = required("AO")
    item_identifier: str = required("AB")
    terminal_password: str = required("AC", secret=True)
    item_properties: str | None = optional("CH")
    cancel: bool | None = optional("BI", VAR_FLAG)


@dataclass(frozen=True, kw_only=True)
class CheckinResponse(AcsMessage):
    MESSAGE_ID = "10"
    ok: bool = fixed(OK)
    resensitize: bool = fixed(FLAG)
    magnetic_media: bool | None = fixed(MAYBE_FLAG)
    alert: bool = fixed(FLAG)
    transaction_date: datetime = fixed(DATE)
    institution_id: str = required("AO")
    item_identifier: str = required("AB")
    permanent_location: str = required("AQ")
    title_identifier: str | None = optional("AJ")
    sort_bin: str | None = optional("CL")
    patron_identifier: str | None = optional("AA")
    media_type: str | None = optional("CK")
    item_properties: str | None = optional("CH")
    screen_messages: tuple[str, ...] = repeated("AF")
    print_lines: tuple[str, ...] = repeated("AG")


@dataclass(frozen=True, kw_only=True)
class RenewRequest(ScMessage):
    MESSAGE_ID = "29"
    third_party_allowed: bool = fixed(FLAG)
    no_block: bool = fixed(FLAG)
    transaction_date: datetime = fixed(DATE)
    nb_due_date: datetime | None = fixed(NB_DATE)
    institution_id: str = required("AO")
    patron_identifier: str = required("AA")
    patron_password: str | None = optional("AD", secret=True)
    item_identifier: str | None = optional("AB")
    title_identifier: str | None = optional("AJ")
    terminal_password: str | None = optional("AC", secret=True)
    item_properties: str | None = optional("CH")
    fee_acknowledged: bool | None = optional("BO", VAR_FLAG)


@dataclass(frozen=True, kw_only=True)
class RenewResponse(_LoanResponse):
    MESSAGE_ID = "30"


@dataclass(frozen=True, kw_only=True)
class RenewAllRequest(ScMessage):
    MESSAGE_ID = "65"
    transaction_date: datetime = fixed(DATE)
    institution_id: str = required("AO")
    patron_identifier: str = required("AA")
    patron_password: str | None = optional("AD", secret=True)
    terminal_password: str | None = optional("AC", secret=True)
    fee_acknowledged: bool | None = optional("BO", VAR_FLAG)


@dataclass(frozen=True, kw_only=True)
class RenewAllResponse(AcsMessage):
    MESSAGE_ID = "66"
    ok: bool = fixed(OK)
    renewed_count: int | None = fixed(COUNT)
    unrenewed_count: int | None = fixed(COUNT)
    transaction_date: datetime = fixed(DATE)
    institution_id: str = required("AO")
    renewed_items: tuple[str, ...] = repeated("BM")
    unrenewed_items: tuple[str, ...] = repeated("BN")
    screen_messages: tuple[str, ...] = repeated("AF")
    print_lines: tuple[str, ...] = repeated("AG")


@dataclass(frozen=True, kw_only=True)
class ItemInformationRequest(ScMessage):
    MESSAGE_ID = "17"
    transaction_date: datetime = fixed(DATE)
    institution_id: str = required("AO")
    item_identifier: str = required("AB")
    terminal_password: str | None = optional("AC", secret=True)


@dataclass(frozen=True, kw_only=True)
class ItemInformationResponse(AcsMessage):
    """18: circulation status, security marker and fee type are code tables
    (`CirculationStatus`, `SecurityMarker`, `FeeType`)."""

    MESSAGE_ID = "18"
    circulation_status: int = fixed(TWO_DIGITS)
    security_marker: int = fixed(TWO_DIGITS)
    fee_type: int = fixed(FEE_TYPE)
    transaction_date: datetime = fixed(DATE)
    hold_queue_length: str | None = optional("CF")
    due_date: str | None = optional("AH")
    recall_date: datetime | None = optional("CJ", VAR_DATE)
    hold_pickup_date: datetime | None = optional("CM", VAR_DATE)
    item_identifier: str = required("AB")
    title_identifier: str = required("AJ")
    owner: str | None = optional("BG")
    currency_type: str | None = optional("BH")
    fee_amount: str | None = optional("BV")
    media_type: str | None = optional("CK")
    permanent_location: str | None = optional("AQ")
    current_location: str | None = optional("AP")
    item_properties: str | None = optional("CH")
    screen_messages: tuple[str, ...] = repeated("AF")
    print_lines: tuple[str, ...] = repeated("AG")


@dataclass(frozen=True, kw_only=True)
class ItemStatusUpdateRequest(ScMessage):
    MESSAGE_ID = "19"
    transaction_date: datetime = fixed(DATE)
    institution_id: str = required("AO")
    item_identifier: str = required("AB")
    terminal_password: str | None = optional("AC", secret=True)
    item_properties: str = required("CH")


@dataclass(frozen=True, kw_only=True)
class ItemStatusUpdateResponse(AcsMessage):
    MESSAGE_ID = "20"
    item_properties_ok: bool = fixed(Ok(lenient=True))
    transaction_date: datetime = fixed(DATE)
    item_identifier: str = required("AB")
    title_identifier: str | None = optional("AJ")
    item_properties: str | None = optional("CH")
    screen_messages: tuple[str, ...] = repeated("AF")
    print_lines: tuple[str, ...] = repeated("AG")


@dataclass(frozen=True, kw_only=True)
class HoldRequest(ScMessage):
    """15: hold mode "+" add, "-" delete, "*" change (`HoldMode`); hold type is `HoldType`."""

    MESSAGE_ID = "15"
    hold_mode: str = fixed(Text(1))
    transaction_date: datetime = fixed(DATE)
    expiration_date: datetime | None = optional("BW", VAR_DATE)
    pickup_location: str | None = optional("BS")
    hold_type: int | None = optional("BY", HOLD_TYPE)
    institution_id: str = required("AO")
    patron_identifier: str = required("AA")
    patron_password: str | None = optional("AD", secret=True)
    item_identifier: str | None = optional("AB")
    title_identifier: str | None = optional("AJ")
    terminal_password: str | None = optional("AC", secret=True)
    fee_acknowledged: bool | None = optional("BO", VAR_FLAG)


@dataclass(frozen=True, kw_only=True)
class HoldResponse(AcsMessage):
    MESSAGE_ID = "16"
    ok: bool = fixed(OK)
    available: bool = fixed(FLAG)
    transaction_date: datetime = fixed(DATE)
    expiration_date: datetime | None = optional("BW", VAR_DATE)
    queue_position: str | None = optional("BR")
    pickup_location: str | None = optional("BS")
    institution_id: str = required("AO")
    patron_identifier: str = required("AA")
    item_identifier: str | None = optional("AB")
    title_identifier: str | None = optional("AJ")
    screen_messages: tuple[str, ...] = repeated("AF")
    print_lines: tuple[str, ...] = repeated("AG")
