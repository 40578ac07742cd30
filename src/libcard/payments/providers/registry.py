"""The configured providers, built from the settings.

With the simulator on (`Settings.simulating_payments`: the embedded default on SQLite, or
`payments_simulator` set), both providers talk to the simulator on loopback, with the
simulator's own made-up credentials unless real ones are set; otherwise a provider is offered
only when all of its credentials are set.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

from pydantic import SecretStr

from libcard.config import Settings
from libcard.payments.providers.base import PaymentProvider
from libcard.payments.providers.mobilepay import MobilePayProvider
from libcard.payments.providers.quickpay import QuickPayProvider

WEBHOOK_PATH = "/api/v1/payments/webhooks/{provider}"


@dataclass(frozen=True)
class MobilePayCredentials:
    client_id: str
    client_secret: str
    subscription_key: str
    merchant_serial_number: str
    webhook_secret: str


@dataclass(frozen=True)
class CardCredentials:
    api_key: str
    private_key: str


# Made up, and good only against the simulator on loopback.
SIMULATED_MOBILEPAY = MobilePayCredentials(
    client_id="paysim-client",
    client_secret="paysim-client-secret",  # noqa: S106
    subscription_key="paysim-subscription-key",
    merchant_serial_number="123456",
    webhook_secret="paysim-webhook-secret",  # noqa: S106
)
SIMULATED_CARD = CardCredentials(api_key="paysim-api-key", private_key="paysim-private-key")


def _plain(secret: SecretStr | None) -> str | None:
    return secret.get_secret_value() if secret is not None else None


def simulator_url(settings: Settings) -> str:
    return f"http://127.0.0.1:{settings.payments_simulator_port}"


def webhook_url(settings: Settings, provider: str) -> str:
    return settings.public_url.rstrip("/") + WEBHOOK_PATH.format(provider=provider)


def mobilepay_credentials(settings: Settings) -> MobilePayCredentials | None:
    values = (
        settings.mobilepay_client_id,
        _plain(settings.mobilepay_client_secret),
        _plain(settings.mobilepay_subscription_key),
        settings.mobilepay_merchant_serial_number,
        _plain(settings.mobilepay_webhook_secret),
    )
    if all(values):
        return MobilePayCredentials(*values)  # type: ignore[arg-type]
    return SIMULATED_MOBILEPAY if settings.simulating_payments else None


def card_credentials(settings: Settings) -> CardCredentials | None:
    api_key, private_key = _plain(settings.card_api_key), _plain(settings.card_private_key)
    if api_key and private_key:
        return CardCredentials(api_key, private_key)
    return SIMULATED_CARD if settings.simulating_payments else None


def providers_from(settings: Settings) -> dict[str, PaymentProvider]:
    providers: dict[str, PaymentProvider] = {}
    mobilepay, card = mobilepay_credentials(settings), card_credentials(settings)
    simulated = simulator_url(settings) if settings.simulating_payments else None
    if mobilepay is not None:
        providers["mobilepay"] = MobilePayProvider(
            base_url=simulated or settings.mobilepay_base_url,
            client_id=mobilepay.client_id,
            client_secret=mobilepay.client_secret,
            subscription_key=mobilepay.subscription_key,
            merchant_serial_number=mobilepay.merchant_serial_number,
            webhook_secret=mobilepay.webhook_secret,
            timeout=settings.payments_timeout_seconds,
        )
    if card is not None:
        providers["card"] = QuickPayProvider(
            base_url=simulated or settings.card_base_url,
            api_key=card.api_key,
            private_key=card.private_key,
            callback_url=webhook_url(settings, "card"),
            timeout=settings.payments_timeout_seconds,
            link_deadline=timedelta(minutes=settings.card_link_minutes),
        )
    return providers
