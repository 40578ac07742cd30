"""The SIP2 2.00 messages, one class per message id, and `MESSAGE_TYPES` to find a class by
its id. Declared in message_base.py (helpers, base classes), patron_messages.py and
item_messages.py; importers use this module."""

from __future__ import annotations

from collections.abc import Mapping

from libcard.sip2.item_messages import (
    CheckinRequest,
    CheckinResponse,
    CheckoutRequest,
    CheckoutResponse,
    HoldRequest,
    HoldResponse,
    ItemInformationRequest,
    ItemInformationResponse,
    ItemStatusUpdateRequest,
    ItemStatusUpdateResponse,
    RenewAllRequest,
    RenewAllResponse,
    RenewRequest,
    RenewResponse,
)
from libcard.sip2.message_base import SPEC, AcsMessage, Message, ScMessage
from libcard.sip2.patron_messages import (
    AcsStatus,
    BlockPatronRequest,
    EndPatronSessionRequest,
    EndSessionResponse,
    FeePaidRequest,
    FeePaidResponse,
    LoginRequest,
    LoginResponse,
    PatronEnableRequest,
    PatronEnableResponse,
    PatronInformationRequest,
    PatronInformationResponse,
    PatronStatusRequest,
    PatronStatusResponse,
    RequestAcsResend,
    RequestScResend,
    ScStatus,
)

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

__all__ = [
    "MESSAGE_TYPES",
    "SPEC",
    "AcsMessage",
    "AcsStatus",
    "BlockPatronRequest",
    "CheckinRequest",
    "CheckinResponse",
    "CheckoutRequest",
    "CheckoutResponse",
    "EndPatronSessionRequest",
    "EndSessionResponse",
    "FeePaidRequest",
    "FeePaidResponse",
    "HoldRequest",
    "HoldResponse",
    "ItemInformationRequest",
    "ItemInformationResponse",
    "ItemStatusUpdateRequest",
    "ItemStatusUpdateResponse",
    "LoginRequest",
    "LoginResponse",
    "Message",
    "PatronEnableRequest",
    "PatronEnableResponse",
    "PatronInformationRequest",
    "PatronInformationResponse",
    "PatronStatusRequest",
    "PatronStatusResponse",
    "RenewAllRequest",
    "RenewAllResponse",
    "RenewRequest",
    "RenewResponse",
    "RequestAcsResend",
    "RequestScResend",
    "ScMessage",
    "ScStatus",
]
