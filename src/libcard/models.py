"""Every table, imported in one place so that migrations and tests see the whole schema."""

from libcard.access.models import (
    ApiToken,
    AppAuthorizationCode,
    LinkedIdentity,
    PortalSession,
    Throttle,
)
from libcard.audit.models import AuditEvent
from libcard.blocks.models import StoredBlock
from libcard.cards.models import Card, PinCredential
from libcard.collection.models import CollectionCase, CollectionCaseFee, CollectionPayment
from libcard.db import Base
from libcard.fees.models import Fee, FeeAction, Payment
from libcard.jobs.models import JobRun
from libcard.loans.models import Item, Loan
from libcard.notify.models import OutboundMail
from libcard.patrons.models import Patron, SecretToken
from libcard.payments.models import OnlinePayment, OnlinePaymentFee, WebhookEvent
from libcard.policy.models import Branch, Institution, PatronGroup, Terminal
from libcard.staff.models import StaffRecoveryCode, StaffSession, StaffUser
from libcard.wallet.models import WalletPass, WalletRegistration

__all__ = [
    "ApiToken",
    "AppAuthorizationCode",
    "AuditEvent",
    "Base",
    "Branch",
    "Card",
    "CollectionCase",
    "CollectionCaseFee",
    "CollectionPayment",
    "Fee",
    "FeeAction",
    "Institution",
    "Item",
    "JobRun",
    "LinkedIdentity",
    "Loan",
    "OnlinePayment",
    "OnlinePaymentFee",
    "OutboundMail",
    "Patron",
    "PatronGroup",
    "Payment",
    "PinCredential",
    "PortalSession",
    "SecretToken",
    "StaffRecoveryCode",
    "StaffSession",
    "StaffUser",
    "StoredBlock",
    "Terminal",
    "Throttle",
    "WalletPass",
    "WalletRegistration",
    "WebhookEvent",
]
