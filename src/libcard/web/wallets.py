"""The wallets as the web adapters see them: read once per application, and the .pkpass answer.

The portal, the app's API and Apple's pass web service all hand out the same passes; they
read the settings and certificate files once (`wallets`), so a page never reads a file and a
wallet that cannot be used is hidden, not an error.
"""

from __future__ import annotations

from fastapi import Request
from fastapi.responses import Response

from libcard.runtime import Runtime
from libcard.wallet.apple_service import PKPASS_TYPE, SignedPass
from libcard.wallet.offers import Wallets, load_wallets

PKPASS_FILENAME = "library-card.pkpass"


def wallets(request: Request) -> Wallets:
    """The wallets of this application, read from the settings and files the first time."""
    state = request.app.state
    found: Wallets | None = getattr(state, "wallets", None)
    if found is None:
        runtime: Runtime = state.runtime
        found = load_wallets(runtime.settings, runtime.keyring)
        state.wallets = found
    return found


def pkpass_response(signed: SignedPass) -> Response:
    """The .pkpass as a download; a phone opens it in Wallet."""
    return Response(
        signed.data,
        media_type=PKPASS_TYPE,
        headers={
            "Content-Disposition": f'attachment; filename="{PKPASS_FILENAME}"',
            "Cache-Control": "no-store",
        },
    )
