"""The simulator's memory: payments of both providers, webhook deliveries, faults to inject."""

from __future__ import annotations

import asyncio
import itertools
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from libcard.config import Settings
from libcard.payments.providers.registry import (
    CardCredentials,
    MobilePayCredentials,
    card_credentials,
    mobilepay_credentials,
    webhook_url,
)

MOBILEPAY, CARD = "mobilepay", "card"


def utcnow() -> datetime:
    return datetime.now(UTC)


@dataclass
class SimConfig:
    mobilepay: MobilePayCredentials
    card: CardCredentials
    # Where MobilePay's webhooks go (registered with its Webhooks API in real life).
    mobilepay_webhook_url: str | None
    # Where QuickPay's callbacks go when a payment link names no callback_url.
    card_callback_url: str | None
    # The simulator's own address, for hosted payment pages; set once it listens.
    public_url: str = "http://127.0.0.1:8010"
    quickpay_account_id: int = 4711

    @classmethod
    def from_settings(cls, settings: Settings) -> SimConfig:
        mobilepay, card = mobilepay_credentials(settings), card_credentials(settings)
        if mobilepay is None or card is None:
            raise ValueError("the simulator needs credentials for both providers")
        return cls(
            mobilepay=mobilepay,
            card=card,
            mobilepay_webhook_url=webhook_url(settings, MOBILEPAY),
            card_callback_url=webhook_url(settings, CARD),
            public_url=f"http://127.0.0.1:{settings.payments_simulator_port}",
        )


@dataclass
class Delivery:
    """One webhook (or QuickPay callback) sent, held back, or sent wrongly on purpose."""

    provider: str
    url: str
    body: bytes
    kind: str = "signed"  # signed | bad-signature | tampered | replay
    held: bool = False
    status: int | None = None
    error: str | None = None
    at: datetime = field(default_factory=utcnow)

    def view(self) -> dict[str, Any]:
        return {
            "provider": self.provider,
            "url": self.url,
            "kind": self.kind,
            "held": self.held,
            "status": self.status,
            "error": self.error,
            "body": self.body.decode("utf-8"),
        }


@dataclass
class VippsPayment:
    reference: str
    currency: str
    value: int
    description: str
    return_url: str
    psp_reference: str
    state: str = "CREATED"  # CREATED AUTHORIZED ABORTED EXPIRED TERMINATED
    authorized: int = 0
    captured: int = 0
    refunded: int = 0
    cancelled: int = 0
    created_at: datetime = field(default_factory=utcnow)


@dataclass
class QuickPayPayment:
    id: int
    order_id: str
    currency: str
    variables: dict[str, Any]
    state: str = "initial"  # initial new rejected processed
    accepted: bool = False
    link: dict[str, Any] | None = None
    operations: list[dict[str, Any]] = field(default_factory=list)
    created_at: datetime = field(default_factory=utcnow)
    updated_at: datetime = field(default_factory=utcnow)


@dataclass
class Fault:
    provider: str | None  # None: both
    status: int | None  # None: only the delay
    delay_seconds: float
    remaining: int


@dataclass
class Stored:
    """An answer kept under an idempotency key, with what the request looked like."""

    fingerprint: str
    status: int
    body: Any


class Simulation:
    def __init__(self, config: SimConfig) -> None:
        self.config = config
        self.reset()

    def reset(self) -> None:
        self.vipps: dict[str, VippsPayment] = {}
        self.quickpay: dict[int, QuickPayPayment] = {}
        self.tokens: set[str] = set()
        self.idempotency: dict[tuple[str, str], Stored] = {}
        self.deliveries: dict[str, list[Delivery]] = {}
        self.hold_webhooks = False
        self.faults: list[Fault] = []
        self.tasks: set[asyncio.Task[None]] = set()
        self._ids = itertools.count(100_000_001)
        self._operation_ids = itertools.count(1)

    def next_payment_id(self) -> int:
        return next(self._ids)

    def next_operation_id(self) -> int:
        return next(self._operation_ids)

    def find(self, key: str) -> tuple[str, str] | None:
        """A payment by libcard's reference (either provider) or by QuickPay's id:
        (provider, the key its deliveries are filed under)."""
        if key in self.vipps:
            return MOBILEPAY, key
        for payment in self.quickpay.values():
            if payment.order_id == key or str(payment.id) == key:
                return CARD, str(payment.id)
        return None

    def take_fault(self, provider: str) -> Fault | None:
        for fault in self.faults:
            if fault.provider in (None, provider) and fault.remaining > 0:
                fault.remaining -= 1
                if fault.remaining == 0:
                    self.faults.remove(fault)
                return fault
        return None
