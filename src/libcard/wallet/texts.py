"""The texts on a card's wallet pass, in da, de and en (the pass's `<lang>.lproj/pass.strings`).

The pass itself carries only keys (`pass.json`); the phone shows the text of each key in its
language. The texts are written in English and translated through the Babel catalogues.
"""

from __future__ import annotations

from libcard.kit.i18n import N_, SUPPORTED, translate

# A key used in pass.json → its English text.
PASS_TEXTS: dict[str, str] = {
    "pass.description": N_("Library card"),
    "label.holder": N_("Card holder"),
    "label.number": N_("Card number"),
    "label.expires": N_("Valid until"),
    "label.status": N_("Status"),
    "label.lost": N_("Lost your card?"),
    "label.contact": N_("Contact the library"),
    "label.blocked": N_("Why is my card blocked?"),
    "status.active": N_("Active"),
    "status.blocked": N_("Blocked"),
    "status.not_activated": N_("Not activated"),
    "status.lost": N_("Lost – do not use"),
    "status.stolen": N_("Stolen – do not use"),
    "status.replaced": N_("Replaced – do not use"),
    "status.expired": N_("Expired"),
    "help.lost": N_(
        "If you lose your card, report it lost at once in My account or at the lending desk. "
        "From then on its number is refused, so nobody else can borrow with it."
    ),
    "help.blocked": N_(
        "Borrowing is blocked on this account. My account shows why and what lifts the "
        "block; the lending desk can help."
    ),
    "help.voided": N_(
        "This pass is no longer valid. Use your current card, or get a new one in My account "
        "or at the lending desk."
    ),
}


def pass_strings(language: str) -> dict[str, str]:
    """Every key of PASS_TEXTS with its text in `language` (one of kit.i18n.SUPPORTED)."""
    return {key: translate(language, text) for key, text in PASS_TEXTS.items()}


def all_pass_strings() -> dict[str, dict[str, str]]:
    """The texts in every supported language, keyed by language code."""
    return {language: pass_strings(language) for language in SUPPORTED}
