"""The providers a running libcard uses, and the reconciliation job that asks them."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from libcard.config import Settings
from libcard.notify.service import MailLinks
from libcard.payments.checkout import Providers, ReconcileReport, reconcile
from libcard.payments.providers.registry import providers_from
from libcard.runtime import Runtime


def providers_for(state: Any, settings: Settings) -> Providers:
    """The application's providers (`state` is the web app's state), built from the settings
    on first use; whoever builds the app may set `state.payment_providers` beforehand."""
    providers: Providers | None = getattr(state, "payment_providers", None)
    if providers is None:
        providers = providers_from(settings)
        state.payment_providers = providers
    return providers


async def reconcile_payments(runtime: Runtime, now: datetime) -> ReconcileReport:
    """The job: settle, fail or expire the online payments whose result never arrived."""
    settings = runtime.settings
    return await reconcile(runtime, providers_from(settings), now, MailLinks(settings.public_url))
