"""Keeping handed-out passes current: find the changed ones, tell phones and Google.

Each minute the `wallet_passes` job builds again the passes of patrons with an audit event
in the last minutes (a card reported lost or replaced, a block placed or lifted, a fee paid,
a case handed to collection); once a day `wallet_passes_daily` builds every pass again, which
also catches a card that expired and a change of the institution's branding. A changed pass
is pushed to the devices that registered for it (APNs) and to Google's copy of the object.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import delete, or_, select, update

from libcard.errors import InvalidInput, NotFound
from libcard.runtime import Runtime
from libcard.wallet.apns import PushOutcome, apns_pusher
from libcard.wallet.configured import apple_issuer
from libcard.wallet.google import (
    WalletApiError,
    google_account,
    google_api,
    google_issuer,
    google_wallet_configured,
)
from libcard.wallet.google_rules import generic_class, generic_object
from libcard.wallet.models import WalletPass, WalletRegistration
from libcard.wallet.service import (
    CardPassView,
    card_pass_view,
    recorded_pass_ids,
    refresh_passes,
)

log = logging.getLogger(__name__)

# Events this old or newer count as recent; several runs overlap, which costs nothing since
# a pass that did not change is left alone.
RECENT = timedelta(minutes=5)
BATCH = 200
PUSH_BATCH = 500


@dataclass
class WalletReport:
    passes_changed: int = 0
    pushes_sent: int = 0
    devices_gone: int = 0
    google_updated: int = 0
    failures: int = 0

    def summary(self) -> str:
        return (
            f"passes changed: {self.passes_changed}, pushes sent: {self.pushes_sent}, "
            f"devices gone: {self.devices_gone}, Google objects updated: "
            f"{self.google_updated}, failures: {self.failures}"
        )


async def refresh_recorded(runtime: Runtime, *, changed_since: datetime | None) -> int:
    """Build recorded passes again in batches (each its own unit); how many changed."""
    changed = 0
    after = 0
    while True:
        async with runtime.unit() as ctx:
            card_ids = await recorded_pass_ids(
                ctx, after_id=after, limit=BATCH, patrons_changed_since=changed_since
            )
            changed += len(await refresh_passes(ctx, card_ids))
        if len(card_ids) < BATCH:
            return changed
        after = card_ids[-1]


async def push_pending(runtime: Runtime, report: WalletReport) -> None:
    """Tell the devices of changed passes; a push that failed is tried again next time."""
    try:
        pusher = apns_pusher(runtime.settings)
    except InvalidInput as error:
        # The admin page shows the same message; Google's updates still go out.
        log.warning("Apple Wallet pushes: %s", error.message)
        report.failures += 1
        return
    if pusher is None:
        return
    topic = apple_issuer(runtime.settings).pass_type_identifier
    try:
        after = 0
        while True:
            async with runtime.unit(readonly=True) as ctx:
                pending = (
                    await ctx.session.execute(
                        select(WalletRegistration.id, WalletRegistration.push_token)
                        .where(
                            WalletRegistration.push_pending_since.is_not(None),
                            WalletRegistration.id > after,
                        )
                        .order_by(WalletRegistration.id)
                        .limit(PUSH_BATCH)
                    )
                ).all()
            if not pending:
                return
            after = pending[-1].id
            # The push happens outside any transaction: APNs may take its time.
            results = await pusher.push(topic, [row.push_token for row in pending])
            outcome = {result.push_token: result.outcome for result in results}
            sent = [r.id for r in pending if outcome.get(r.push_token) is PushOutcome.SENT]
            gone = [r.id for r in pending if outcome.get(r.push_token) is PushOutcome.GONE]
            async with runtime.unit() as ctx:
                if sent:
                    await ctx.session.execute(
                        update(WalletRegistration)
                        .where(WalletRegistration.id.in_(sent))
                        .values(push_pending_since=None)
                    )
                if gone:
                    # The phone no longer has the pass (APNs says the token is unregistered).
                    await ctx.session.execute(
                        delete(WalletRegistration).where(WalletRegistration.id.in_(gone))
                    )
            report.pushes_sent += len(sent)
            report.devices_gone += len(gone)
            report.failures += len(pending) - len(sent) - len(gone)
            if len(pending) < PUSH_BATCH:
                return
    finally:
        await pusher.aclose()


async def _google_due(runtime: Runtime, after: int) -> list[tuple[int, str, CardPassView]]:
    """Passes offered to Google Wallet whose object Google has not got as it is now."""
    async with runtime.unit(readonly=True) as ctx:
        rows = (
            await ctx.session.execute(
                select(WalletPass.card_id, WalletPass.fingerprint)
                .where(
                    WalletPass.card_id > after,
                    WalletPass.google_offered_at.is_not(None),
                    or_(
                        WalletPass.google_fingerprint.is_(None),
                        WalletPass.google_fingerprint != WalletPass.fingerprint,
                    ),
                )
                .order_by(WalletPass.card_id)
                .limit(BATCH)
            )
        ).all()
        due = []
        for row in rows:
            try:
                due.append((row.card_id, row.fingerprint, await card_pass_view(ctx, row.card_id)))
            except NotFound:
                continue
    return due


async def update_google(runtime: Runtime, report: WalletReport) -> None:
    """Send Google the objects of changed passes; one that fails is sent again next time."""
    settings = runtime.settings
    if not google_wallet_configured(settings):
        return
    try:
        account = google_account(settings)
        issuer = google_issuer(settings, account)
    except InvalidInput as error:
        # The admin page shows the same message; the job must not stop the Apple updates.
        log.warning("Google Wallet: %s", error.message)
        report.failures += 1
        return
    account_url = settings.public_url.rstrip("/") + "/card"
    async with google_api(settings, account) as api:
        try:
            await api.ensure_class(generic_class(issuer, account_url=account_url))
        except WalletApiError as error:
            log.warning("Google Wallet: the pass class could not be made: %s", error.message)
            report.failures += 1
            return
        after = 0
        while True:
            due = await _google_due(runtime, after)
            if not due:
                return
            after = due[-1][0]
            sent: dict[int, str] = {}
            now = runtime.clock.now()
            for card_id, digest, view in due:
                patron = view.status.patron
                language = patron.preferred_language or view.status.institution.default_language
                try:
                    await api.upsert_object(generic_object(view.card_pass, issuer, now, language))
                except WalletApiError as error:
                    log.warning("Google Wallet: card %s not updated: %s", card_id, error.message)
                    report.failures += 1
                    continue
                sent[card_id] = digest
            async with runtime.unit() as ctx:
                for card_id, digest in sent.items():
                    await ctx.session.execute(
                        update(WalletPass)
                        .where(WalletPass.card_id == card_id)
                        .values(google_fingerprint=digest)
                    )
            report.google_updated += len(sent)
            if len(due) < BATCH:
                return


async def _update(runtime: Runtime, changed_since: datetime | None) -> WalletReport:
    report = WalletReport()
    report.passes_changed = await refresh_recorded(runtime, changed_since=changed_since)
    await push_pending(runtime, report)
    await update_google(runtime, report)
    return report


async def wallet_updates(runtime: Runtime, now: datetime) -> WalletReport:
    """The frequent job: passes of patrons changed in the last minutes."""
    return await _update(runtime, now - RECENT)


async def wallet_updates_daily(runtime: Runtime, now: datetime) -> WalletReport:
    """The daily job: every recorded pass (expiry, branding)."""
    return await _update(runtime, None)
