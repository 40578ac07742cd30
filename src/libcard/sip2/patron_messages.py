"""SIP2 messages of a terminal's session and of patrons: login, status, resend, patron status
and information, block, enable, end of session, fee paid."""

# The field helpers return dataclasses.field(...); RUF009 only recognises field() itself.
# ruff: noqa: RUF009

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from libcard.sip2.fields import (
    COUNT,
    DATE,
    FLAG,
    LANGUAGE,
    OK,
    PATRON_STATUS,
    SUMMARY,
    SUPPORTED_MESSAGES,
    VERSION,
    Number,
    PatronStatus,
    Summary,
    SupportedMessages,
    Text,
)
from libcard.sip2.message_base import (
    FEE_TYPE,
    SYNC_DATE,
    THREE_DIGITS,
    TWO_DIGITS,
    VAR_COUNT,
    VAR_FLAG,
    AcsMessage,
    ScMessage,
    fixed,
    optional,
    repeated,
    required,
)

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
