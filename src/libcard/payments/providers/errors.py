"""How a provider's trouble reaches libcard: one of two errors with stable codes.

The patron sees a message that says what to do (try again later); the provider's own words go
to the log and into `details` for staff, never a stack trace, and never a credential.
"""

from __future__ import annotations

from libcard.errors import InvalidInput, LibcardError
from libcard.kit.i18n import N_


class ProviderUnavailable(LibcardError):
    """The provider did not answer, answered too slowly, or failed on its side (5xx)."""

    status = 503
    title = "Payment provider unavailable"


class ProviderRefused(LibcardError):
    """The provider answered and refused: wrong credentials, a request it will not carry out."""

    status = 502
    title = "Refused by the payment provider"


UNAVAILABLE = "payment_provider_unavailable"
REFUSED = "payment_provider_refused"
REFERENCE_INVALID = "payment_reference_invalid"

# What the patron reads (the portal translates them by code); the provider's words stay in
# `details` for staff and the log.
UNAVAILABLE_TEXT = N_(
    "The payment service is not answering right now. Nothing was paid; "
    "please try again in a few minutes."
)
REFUSED_TEXT = N_(
    "The payment service refused the request. Nothing was paid; "
    "please try again later or pay at the lending desk."
)


def unavailable(provider: str, **details: object) -> ProviderUnavailable:
    return ProviderUnavailable(
        UNAVAILABLE,
        UNAVAILABLE_TEXT,
        provider=provider,
        **details,
    )


def refused(provider: str, **details: object) -> ProviderRefused:
    return ProviderRefused(
        REFUSED,
        REFUSED_TEXT,
        provider=provider,
        **details,
    )


def reference_invalid(provider: str, reference: str, rule: str) -> InvalidInput:
    return InvalidInput(
        REFERENCE_INVALID,
        f"The payment reference {reference!r} does not suit {provider}: {rule}.",
        provider=provider,
    )
