"""Screen messages (AF) for self-checkout machines, in the language the machine shows.

Written in English and translated through the Babel catalogues like every other text; why a
card or an account is refused comes from cards/texts.py and blocks/texts.py, so the machine,
the portal and the desk say the same thing.
"""

from __future__ import annotations

from libcard.kit.i18n import N_, SUPPORTED, translate
from libcard.sip2.fields import Language

# SIP2's language codes for the languages libcard speaks; anything else falls back.
SIP2_LANGUAGES: dict[int, str] = {
    Language.DANISH: "da",
    Language.GERMAN: "de",
    Language.ENGLISH: "en",
    Language.UNITED_KINGDOM: "en",
}
LANGUAGE_CODES: dict[str, int] = {
    "da": Language.DANISH,
    "de": Language.GERMAN,
    "en": Language.ENGLISH,
}

NOT_LOGGED_IN = N_("This machine is not logged in to the library system. Ask the staff.")
UNKNOWN_CARD = N_("The card is not recognised. Ask at the lending desk.")
PIN_WRONG = N_("Wrong PIN. %(left)s more wrong attempts lock the card.")
PIN_WRONG_LAST = N_("Wrong PIN. One more wrong attempt locks the card.")
PIN_NEEDED = N_("Enter your PIN.")
PIN_NOT_SET = N_("No PIN is set for this card. Set one in the library's portal.")
ITEM_UNKNOWN = N_("The item is not recognised. Take it to the lending desk.")
ITEM_NOT_LOANABLE = N_("This item cannot be borrowed; it is for use in the library.")
ITEM_ON_LOAN = N_("This item is on loan to someone else. Take it to the lending desk.")
ITEM_ON_LOAN_TO_YOU = N_("You already have this item on loan.")
ITEM_NOT_ON_LOAN = N_("This item was not on loan.")
MAX_LOANS = N_("You have %(max)s items on loan, the most allowed. Return one first.")
MAX_RENEWALS = N_("This item cannot be renewed again. Return it or ask at the lending desk.")
NO_LOAN = N_("You do not have this item on loan.")
CHECKED_OUT = N_("Borrowed: %(title)s. Return it by %(date)s.")
RENEWED = N_("Renewed: %(title)s. Return it by %(date)s.")
RENEWED_COUNT = N_("Renewed: %(renewed)s. Not renewed: %(unrenewed)s.")
CHECKED_IN = N_("Returned: %(title)s. Thank you.")
CHECKED_IN_LATE = N_("Returned: %(title)s. It was overdue.")
OTHER_BRANCH = N_("This item belongs to %(branch)s. Put it on the trolley for other branches.")
PAYMENT_TAKEN = N_("Payment of %(amount)s received. Thank you.")
PAYMENT_LIFTED = N_("Your card can be used again.")
OVERPAYMENT = N_("The amount is more than you owe (%(owed)s).")
NOTHING_OWED = N_("You owe nothing.")
PAYMENT_REFUSED = N_("The payment could not be recorded. Ask at the lending desk.")
CARD_KEPT = N_("The card has been kept. Collect it at the lending desk with a valid photo ID.")
HOLDS_ELSEWHERE = N_("Reservations are made in the library's catalogue or at the desk.")
PROPERTIES_NOT_KEPT = N_("The library system does not keep item properties.")
NOT_AVAILABLE = N_("The library system could not do this just now. Try again or ask the staff.")
SESSION_ENDED = N_("Goodbye.")


def language_of(code: int, *fallbacks: str | None) -> str:
    """The machine's language (the request's code) if libcard speaks it, else the first of
    `fallbacks` that it speaks (the terminal's setting, the patron's, the institution's)."""
    if code in SIP2_LANGUAGES:
        return SIP2_LANGUAGES[code]
    for language in fallbacks:
        if language in SUPPORTED:
            return language
    return "en"


def say(language: str, text: str, **values: object) -> str:
    """`text` in `language`, made safe for a SIP2 field: no "|" and no line breaks."""
    words = translate(language, text, **values)
    return " ".join(words.replace("|", "/").split())
