"""What each block means and what lifts it, in Danish, German and English (R17).

The same texts serve the API, the portal, the desk and SIP2 screen messages.
"""

from __future__ import annotations

from dataclasses import dataclass

from libcard.blocks.rules import Block
from libcard.kit.i18n import Text, day, money, pick
from libcard.policy.rules import BlockCode, FeeBlockLift, FeeComparison, Policy

TITLES: dict[BlockCode, Text] = {
    BlockCode.PIN_LOCKED: {
        "da": "Spærret efter for mange forkerte PIN-koder",
        "de": "Gesperrt nach zu vielen falschen PINs",
        "en": "Blocked after too many wrong PINs",
    },
    BlockCode.FEE_THRESHOLD: {
        "da": "Spærret på grund af gebyrer",
        "de": "Gesperrt wegen offener Gebühren",
        "en": "Blocked because of unpaid fees",
    },
    BlockCode.REPLACEMENT_UNPAID: {
        "da": "Spærret: ubetalt erstatningskrav",
        "de": "Gesperrt: unbezahlte Ersatzrechnung",
        "en": "Blocked: unpaid replacement invoice",
    },
    BlockCode.IN_COLLECTION: {
        "da": "Spærret: gæld sendt til inkasso",
        "de": "Gesperrt: Forderung beim Inkassobüro",
        "en": "Blocked: debt with a collection agency",
    },
    BlockCode.STAFF: {
        "da": "Spærret af biblioteket",
        "de": "Von der Bibliothek gesperrt",
        "en": "Blocked by the library",
    },
    BlockCode.CARD_RETAINED: {
        "da": "Kortet er tilbageholdt af en selvbetjeningsautomat",
        "de": "Die Karte wurde vom Selbstverbucher einbehalten",
        "en": "Card retained by a self-checkout machine",
    },
}

REASONS: dict[BlockCode, Text] = {
    BlockCode.PIN_LOCKED: {
        "da": "PIN-koden er tastet forkert {limit} gange i træk.",
        "de": "Die PIN wurde {limit}-mal hintereinander falsch eingegeben.",
        "en": "The PIN was entered wrongly {limit} times in a row.",
    },
    BlockCode.FEE_THRESHOLD: {
        "da": "Du skylder {amount}; grænsen er {threshold}.",
        "de": "Sie schulden {amount}; die Grenze liegt bei {threshold}.",
        "en": "You owe {amount}; the limit is {threshold}.",
    },
    BlockCode.REPLACEMENT_UNPAID: {
        "da": "Et erstatningskrav for mistede eller beskadigede materialer er ikke betalt "
        "({amount} mangler).",
        "de": "Eine Ersatzrechnung für verlorene oder beschädigte Medien ist nicht bezahlt "
        "(offen: {amount}).",
        "en": "An invoice for replacing lost or damaged material is unpaid ({amount} outstanding).",
    },
    BlockCode.IN_COLLECTION: {
        "da": "Gæld på {amount} er sendt til inkasso.",
        "de": "Eine Forderung über {amount} wurde an ein Inkassobüro übergeben.",
        "en": "Debt of {amount} has been handed to a collection agency.",
    },
    BlockCode.STAFF: {
        "da": "Begrundelse: {reason}",
        "de": "Grund: {reason}",
        "en": "Reason: {reason}",
    },
    BlockCode.CARD_RETAINED: {
        "da": "En selvbetjeningsautomat har beholdt kortet.",
        "de": "Ein Selbstverbucher hat die Karte einbehalten.",
        "en": "A self-checkout machine kept the card.",
    },
}

LIFTS: dict[str, Text] = {
    BlockCode.PIN_LOCKED: {
        "da": "Kom til en udlånsskranke med gyldigt billed-ID; personalet ophæver spærringen.",
        "de": "Kommen Sie mit einem gültigen Lichtbildausweis an eine Ausleihtheke; "
        "das Personal hebt die Sperre auf.",
        "en": "Come to a lending desk with a valid photo ID; the staff will lift the block.",
    },
    "fee_threshold_zero": {
        "da": "Betal hele din gæld ({amount}) online eller ved skranken. Spærringen ophæves, "
        "så snart betalingen er registreret.",
        "de": "Bezahlen Sie Ihre gesamten Gebühren ({amount}) online oder an der Theke. "
        "Die Sperre endet, sobald die Zahlung verbucht ist.",
        "en": "Pay all you owe ({amount}) online or at the desk. The block lifts as soon as the "
        "payment is registered.",
    },
    "fee_threshold_below": {
        "da": "Betal mindst {needed}, så du skylder mindre end {threshold}. Spærringen ophæves, "
        "så snart betalingen er registreret.",
        "de": "Bezahlen Sie mindestens {needed}, damit Ihre Schulden unter {threshold} liegen. "
        "Die Sperre endet, sobald die Zahlung verbucht ist.",
        "en": "Pay at least {needed} so that you owe less than {threshold}. The block lifts as "
        "soon as the payment is registered.",
    },
    BlockCode.REPLACEMENT_UNPAID: {
        "da": "Betal erstatningskravet fuldt ud ({amount}); spærringen ophæves, så snart det er "
        "betalt. Afleverer du materialet, kan kravet bortfalde – spørg ved skranken.",
        "de": "Bezahlen Sie die Ersatzrechnung vollständig ({amount}); die Sperre endet, sobald "
        "sie bezahlt ist. Geben Sie die Medien zurück, kann die Rechnung entfallen – fragen "
        "Sie an der Theke.",
        "en": "Pay the replacement invoice in full ({amount}); the block lifts as soon as it is "
        "paid. Returning the material may cancel the invoice – ask at the desk.",
    },
    BlockCode.IN_COLLECTION: {
        "da": "Betal gælden til inkassobureauet. Spærringen ophæves, når bureauet melder den "
        "betalt fuldt ud; det kan tage op til 14 dage.",
        "de": "Bezahlen Sie die Forderung beim Inkassobüro. Die Sperre endet, wenn das Büro die "
        "vollständige Zahlung meldet; das kann bis zu 14 Tage dauern.",
        "en": "Pay the debt to the collection agency. The block lifts when the agency reports it "
        "paid in full, which can take up to 14 days.",
    },
    BlockCode.STAFF: {
        "da": "Kontakt udlånsskranken.",
        "de": "Wenden Sie sich an die Ausleihtheke.",
        "en": "Contact the lending desk.",
    },
    "staff_until": {
        "da": "Spærringen ophører {date}. Kontakt udlånsskranken, hvis du har spørgsmål.",
        "de": "Die Sperre endet am {date}. Bei Fragen wenden Sie sich an die Ausleihtheke.",
        "en": "The block ends on {date}. Contact the lending desk with any questions.",
    },
    BlockCode.CARD_RETAINED: {
        "da": "Hent kortet ved udlånsskranken og medbring gyldigt billed-ID.",
        "de": "Holen Sie die Karte mit einem gültigen Lichtbildausweis an der Ausleihtheke ab.",
        "en": "Collect the card at the lending desk and bring a valid photo ID.",
    },
}


@dataclass(frozen=True)
class BlockText:
    title: str
    reason: str
    lift: str


def describe(block: Block, policy: Policy, language: str, timezone: str) -> BlockText:
    """Title, reason and the exact step that lifts the block, in `language`."""
    currency = policy.currency
    amount = money(block.amount_minor or 0, currency, language)
    threshold = money(policy.fee_block_threshold_minor, currency, language)
    values = {
        "amount": amount,
        "threshold": threshold,
        "limit": str(policy.max_wrong_pins),
        "reason": block.reason or "",
    }
    if block.code is BlockCode.FEE_THRESHOLD:
        if policy.fee_block_lifts_at is FeeBlockLift.ZERO:
            lift = pick(LIFTS["fee_threshold_zero"], language)
        else:
            # The smallest payment that brings the balance under the threshold.
            margin = 1 if policy.fee_block_comparison is FeeComparison.AT_OR_ABOVE else 0
            owed = block.amount_minor or 0
            needed = max(owed - policy.fee_block_threshold_minor + margin, 0)
            values["needed"] = money(needed, currency, language)
            lift = pick(LIFTS["fee_threshold_below"], language)
    elif block.code is BlockCode.STAFF and block.ends_at is not None:
        values["date"] = day(block.ends_at, language, timezone)
        lift = pick(LIFTS["staff_until"], language)
    else:
        lift = pick(LIFTS[block.code], language)
    reason = pick(REASONS[block.code], language)
    if block.code is BlockCode.STAFF and not block.reason:
        reason = ""
    return BlockText(
        title=pick(TITLES[block.code], language),
        reason=_sentence(reason.format(**values)),
        lift=_sentence(lift.format(**values)),
    )


def _sentence(text: str) -> str:
    # Danish amounts end in "kr."; a sentence ending on one must not end in "kr..".
    return text.replace("..", ".")
