"""The SIP2 2.00 messages as frozen dataclasses.

Each class declares its fields in the order of the specification: first the fixed-length
fields (`fixed(kind)`, written one after another without delimiters), then the variable
fields by their two-letter code (`required`, `optional`, `repeated`; each written as code,
value and "|"). `codec.layout(cls)` reads those declarations; the codec needs nothing else.

Required variable fields are always written, empty when they hold ""; the spec lets a
required field be empty ("zero length") but not left out. A required field a terminal left
out reads as its default, so a missing terminal password is the same as an empty one.
Optional fields are None when absent. Password fields stay out of `repr`, so logging a
message never logs a PIN.
"""

# The field helpers below return dataclasses.field(...) like any dataclass field; RUF009 only
# recognises field() itself.
# ruff: noqa: RUF009

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, ClassVar

from libcard.sip2.fields import (
    COUNT,
    DATE,
    FLAG,
    LANGUAGE,
    MAYBE_FLAG,
    OK,
    OPTIONAL_DATE,
    PATRON_STATUS,
    SUMMARY,
    SUPPORTED_MESSAGES,
    TEXT,
    VERSION,
    Count,
    Flag,
    Kind,
    Number,
    Ok,
    OptionalDate,
    PatronStatus,
    Summary,
    SupportedMessages,
    Text,
)

# Where a field keeps its SIP2 declaration: ("fixed", kind) or (mode, code, kind), the mode
# "required", "optional" or "repeated". `codec.layout` reads it.
SPEC = "sip2"


def fixed(kind: Kind[Any]) -> Any:
    return field(metadata={SPEC: ("fixed", kind)})


def required(code: str, kind: Kind[Any] = TEXT, *, default: Any = "", secret: bool = False) -> Any:
    return field(default=default, repr=not secret, metadata={SPEC: ("required", code, kind)})


def optional(code: str, kind: Kind[Any] = TEXT, *, secret: bool = False) -> Any:
    return field(default=None, repr=not secret, metadata={SPEC: ("optional", code, kind)})


def repeated(code: str) -> Any:
    return field(default=(), metadata={SPEC: ("repeated", code, TEXT)})


# Kinds used only here.
NB_DATE = OPTIONAL_DATE  # no-block due date, return date: blank when not used
SYNC_DATE = OptionalDate(empty="0" * 18)  # ACS clock; the spec's "unsupported" is 18 zeros
VAR_DATE = OptionalDate(fixed=False)  # CM, CJ, BW: 18-character dates in variable fields
VAR_FLAG = Flag(fixed=False)
VAR_COUNT = Count(fixed=False)
FEE_TYPE = Number(2)
VAR_FEE_TYPE = Number(2, fixed=False)
HOLD_TYPE = Number(1, fixed=False)
TWO_DIGITS = Number(2)
THREE_DIGITS = Number(3)


@dataclass(frozen=True, kw_only=True)
class Message:
    """A SIP2 message. `MESSAGE_ID` is its two-character id.

    `extra` keeps the fields this codec does not know (vendor extensions such as PB birth
    date or CV alert type) as (code, value) pairs in their order, and any repetition of a
    field that may appear only once; they are written after the known fields.

    Error detection: `sequence` is the AY sequence number (0–9) and `checksummed` whether
    an AZ checksum is (to be) sent. A sequence number is always sent with its checksum; a
    checksum may go without one (the resend requests "97AZFEF5" and "96AZFEF6")."""

    MESSAGE_ID: ClassVar[str]

    extra: tuple[tuple[str, str], ...] = ()
    sequence: int | None = None
    checksummed: bool = False

    def __post_init__(self) -> None:
        if self.sequence is not None and not self.checksummed:
            object.__setattr__(self, "checksummed", True)


@dataclass(frozen=True, kw_only=True)
class ScMessage(Message):
    """A message the SC (the self-check terminal) sends to the ACS."""


@dataclass(frozen=True, kw_only=True)
class AcsMessage(Message):
    """A message the ACS (libcard's SIP2 server) sends to the SC."""


# --- login and status ------------------------------------------------------------------------


@dataclass(frozen=True, kw_only=True)
class LoginRequest(ScMessage):
    """93: the terminal logs in with its SIP2 user and password (algorithm "0": plain)."""

    MESSAGE_ID = "93"
    uid_algorithm: str = fixed(Text(1))
    pwd_algorithm: str = fixed(Text(1))
    login_user_id: str = required("CN")
    login_password: str = required("CO", secret=True)
    location_code: str | None = optional("CP")


@dataclass(frozen=True, kw_only=True)
class LoginResponse(AcsMessage):
    MESSAGE_ID = "94"
    ok: bool = fixed(OK)


@dataclass(frozen=True, kw_only=True)
class ScStatus(ScMessage):
    """99: the terminal's status (0 ok, 1 out of paper, 2 shutting down), print width and
    protocol version; answered with the ACS status (98)."""

    MESSAGE_ID = "99"
    status_code: int = fixed(Number(1))
    max_print_width: int = fixed(THREE_DIGITS)
    protocol_version: str = fixed(VERSION)


@dataclass(frozen=True, kw_only=True)
class AcsStatus(AcsMessage):
    MESSAGE_ID = "98"
    online_status: bool = fixed(FLAG)
    checkin_ok: bool = fixed(FLAG)
    checkout_ok: bool = fixed(FLAG)
    acs_renewal_policy: bool = fixed(FLAG)
    status_update_ok: bool = fixed(FLAG)
    offline_ok: bool = fixed(FLAG)
    timeout_period: int = fixed(THREE_DIGITS)  # tenths of a second; 000 off-line, 999 unknown
    retries_allowed: int = fixed(THREE_DIGITS)  # 999: unknown
    date_time_sync: datetime | None = fixed(SYNC_DATE)
    protocol_version: str = fixed(VERSION)
    institution_id: str = required("AO")
    library_name: str | None = optional("AM")
    supported_messages: SupportedMessages = required(
        "BX", SUPPORTED_MESSAGES, default=SupportedMessages()
    )
    terminal_location: str | None = optional("AN")
    screen_messages: tuple[str, ...] = repeated("AF")
    print_lines: tuple[str, ...] = repeated("AG")


@dataclass(frozen=True, kw_only=True)
class RequestAcsResend(ScMessage):
    """97: the terminal asks for the ACS's last message again (its checksum was wrong)."""

    MESSAGE_ID = "97"


@dataclass(frozen=True, kw_only=True)
class RequestScResend(AcsMessage):
    """96: the ACS asks for the terminal's last message again (its checksum was wrong)."""

    MESSAGE_ID = "96"


# --- patrons ---------------------------------------------------------------------------------


@dataclass(frozen=True, kw_only=True)
class PatronStatusRequest(ScMessage):
    MESSAGE_ID = "23"
    language: int = fixed(LANGUAGE)
    transaction_date: datetime = fixed(DATE)
    institution_id: str = required("AO")
    patron_identifier: str = required("AA")
    terminal_password: str = required("AC", secret=True)
    patron_password: str = required("AD", secret=True)


@dataclass(frozen=True, kw_only=True)
class PatronStatusResponse(AcsMessage):
    """24: the answer to a patron status request (23) and to a block patron message (01)."""

    MESSAGE_ID = "24"
    patron_status: PatronStatus = fixed(PATRON_STATUS)
    language: int = fixed(LANGUAGE)
    transaction_date: datetime = fixed(DATE)
    institution_id: str = required("AO")
    patron_identifier: str = required("AA")
    personal_name: str = required("AE")
    valid_patron: bool | None = optional("BL", VAR_FLAG)
    valid_patron_password: bool | None = optional("CQ", VAR_FLAG)
    currency_type: str | None = optional("BH")
    fee_amount: str | None = optional("BV")
    screen_messages: tuple[str, ...] = repeated("AF")
    print_lines: tuple[str, ...] = repeated("AG")


@dataclass(frozen=True, kw_only=True)
class BlockPatronRequest(ScMessage):
    """01: the terminal kept the card (`card_retained`) or asks the ACS to block it;
    answered with a patron status response (24)."""

    MESSAGE_ID = "01"
    card_retained: bool = fixed(FLAG)
    transaction_date: datetime = fixed(DATE)
    institution_id: str = required("AO")
    blocked_card_msg: str = required("AL")
    patron_identifier: str = required("AA")
    terminal_password: str = required("AC", secret=True)


@dataclass(frozen=True, kw_only=True)
class PatronInformationRequest(ScMessage):
    MESSAGE_ID = "63"
    language: int = fixed(LANGUAGE)
    transaction_date: datetime = fixed(DATE)
    summary: Summary = fixed(SUMMARY)
    institution_id: str = required("AO")
    patron_identifier: str = required("AA")
    terminal_password: str | None = optional("AC", secret=True)
    patron_password: str | None = optional("AD", secret=True)
    start_item: str | None = optional("BP")  # 1-based positions in the requested item list
    end_item: str | None = optional("BQ")


@dataclass(frozen=True, kw_only=True)
class PatronInformationResponse(AcsMessage):
    """64: counts of six item categories, the items of the one the summary asked for."""

    MESSAGE_ID = "64"
    patron_status: PatronStatus = fixed(PATRON_STATUS)
    language: int = fixed(LANGUAGE)
    transaction_date: datetime = fixed(DATE)
    hold_items_count: int | None = fixed(COUNT)
    overdue_items_count: int | None = fixed(COUNT)
    charged_items_count: int | None = fixed(COUNT)
    fine_items_count: int | None = fixed(COUNT)
    recall_items_count: int | None = fixed(COUNT)
    unavailable_holds_count: int | None = fixed(COUNT)
    institution_id: str = required("AO")
    patron_identifier: str = required("AA")
    personal_name: str = required("AE")
    hold_items_limit: int | None = optional("BZ", VAR_COUNT)
    overdue_items_limit: int | None = optional("CA", VAR_COUNT)
    charged_items_limit: int | None = optional("CB", VAR_COUNT)
    valid_patron: bool | None = optional("BL", VAR_FLAG)
    valid_patron_password: bool | None = optional("CQ", VAR_FLAG)
    currency_type: str | None = optional("BH")
    fee_amount: str | None = optional("BV")
    fee_limit: str | None = optional("CC")
    hold_items: tuple[str, ...] = repeated("AS")
    overdue_items: tuple[str, ...] = repeated("AT")
    charged_items: tuple[str, ...] = repeated("AU")
    fine_items: tuple[str, ...] = repeated("AV")
    recall_items: tuple[str, ...] = repeated("BU")
    unavailable_hold_items: tuple[str, ...] = repeated("CD")
    home_address: str | None = optional("BD")
    email_address: str | None = optional("BE")
    home_phone_number: str | None = optional("BF")
    screen_messages: tuple[str, ...] = repeated("AF")
    print_lines: tuple[str, ...] = repeated("AG")


@dataclass(frozen=True, kw_only=True)
class _PatronRequest(ScMessage):
    """35 and 25 alike: a date, the patron, and optionally the passwords."""

    transaction_date: datetime = fixed(DATE)
    institution_id: str = required("AO")
    patron_identifier: str = required("AA")
    terminal_password: str | None = optional("AC", secret=True)
    patron_password: str | None = optional("AD", secret=True)


@dataclass(frozen=True, kw_only=True)
class EndPatronSessionRequest(_PatronRequest):
    MESSAGE_ID = "35"


@dataclass(frozen=True, kw_only=True)
class EndSessionResponse(AcsMessage):
    MESSAGE_ID = "36"
    end_session: bool = fixed(FLAG)
    transaction_date: datetime = fixed(DATE)
    institution_id: str = required("AO")
    patron_identifier: str = required("AA")
    screen_messages: tuple[str, ...] = repeated("AF")
    print_lines: tuple[str, ...] = repeated("AG")


@dataclass(frozen=True, kw_only=True)
class PatronEnableRequest(_PatronRequest):
    MESSAGE_ID = "25"


@dataclass(frozen=True, kw_only=True)
class PatronEnableResponse(AcsMessage):
    MESSAGE_ID = "26"
    patron_status: PatronStatus = fixed(PATRON_STATUS)
    language: int = fixed(LANGUAGE)
    transaction_date: datetime = fixed(DATE)
    institution_id: str = required("AO")
    patron_identifier: str = required("AA")
    personal_name: str = required("AE")
    valid_patron: bool | None = optional("BL", VAR_FLAG)
    valid_patron_password: bool | None = optional("CQ", VAR_FLAG)
    screen_messages: tuple[str, ...] = repeated("AF")
    print_lines: tuple[str, ...] = repeated("AG")


@dataclass(frozen=True, kw_only=True)
class FeePaidRequest(ScMessage):
    """37: fee type and payment type are code tables (`FeeType`, `PaymentType`); the currency
    is a fixed three-letter ISO 4217 code here, not a BH field; the amount is text ("12.50")."""

    MESSAGE_ID = "37"
    transaction_date: datetime = fixed(DATE)
    fee_type: int = fixed(FEE_TYPE)
    payment_type: int = fixed(TWO_DIGITS)
    currency_type: str = fixed(Text(3))
    fee_amount: str = required("BV")
    institution_id: str = required("AO")
    patron_identifier: str = required("AA")
    terminal_password: str | None = optional("AC", secret=True)
    patron_password: str | None = optional("AD", secret=True)
    fee_identifier: str | None = optional("CG")
    transaction_id: str | None = optional("BK")


@dataclass(frozen=True, kw_only=True)
class FeePaidResponse(AcsMessage):
    MESSAGE_ID = "38"
    payment_accepted: bool = fixed(FLAG)
    transaction_date: datetime = fixed(DATE)
    institution_id: str = required("AO")
    patron_identifier: str = required("AA")
    transaction_id: str | None = optional("BK")
    screen_messages: tuple[str, ...] = repeated("AF")
    print_lines: tuple[str, ...] = repeated("AG")


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


MESSAGE_TYPES: Mapping[str, type[Message]] = {
    cls.MESSAGE_ID: cls
    for cls in (
        LoginRequest, LoginResponse, ScStatus, AcsStatus, RequestAcsResend, RequestScResend,
        PatronStatusRequest, PatronStatusResponse, BlockPatronRequest,
        PatronInformationRequest, PatronInformationResponse,
        EndPatronSessionRequest, EndSessionResponse, PatronEnableRequest, PatronEnableResponse,
        FeePaidRequest, FeePaidResponse, CheckoutRequest, CheckoutResponse,
        CheckinRequest, CheckinResponse, RenewRequest, RenewResponse,
        RenewAllRequest, RenewAllResponse, ItemInformationRequest, ItemInformationResponse,
        ItemStatusUpdateRequest, ItemStatusUpdateResponse, HoldRequest, HoldResponse,
    )
}  # fmt: skip
