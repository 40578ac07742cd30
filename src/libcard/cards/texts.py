"""Why a card itself is refused, and what to do, in the patron's language (R1, R10).

The texts are written in English and translated through the Babel catalogues.
"""

from __future__ import annotations

from libcard.kit.i18n import N_, translate

# A refusal code (CardStatus.refusal, or "card_" + a card state) → its English text.
REFUSALS: dict[str, str] = {
    "card_not_activated": N_(
        "This card is not activated yet. Choose 'Activate now' on the library's login page "
        "and enter the card number and the activation code from your e-mail or letter."
    ),
    "card_lost": N_(
        "This card has been reported lost and cannot be used. Use your e-card or get a new "
        "card at the lending desk."
    ),
    "card_stolen": N_(
        "This card has been reported stolen and cannot be used. Contact the lending desk."
    ),
    "card_replaced": N_(
        "This card has been replaced by a newer one. Use the new card or your e-card."
    ),
    "card_expired": N_("This card has expired. Have it renewed at the lending desk."),
    "account_closed": N_("This account is closed. Contact the lending desk."),
    "account_expired": N_("This account has expired. Contact the lending desk to renew it."),
}


def refusal_text(code: str, language: str) -> str:
    """Why the card is refused and what to do, in `language`; `code` is a key of REFUSALS."""
    return translate(language, REFUSALS[code])
