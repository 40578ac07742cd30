"""What each block means and what lifts it, in the patron's language (R17).

The same texts serve the API, the portal, the desk and SIP2 screen messages. They are written in
English here and translated through the Babel catalogues (scripts/i18n-update collects them);
placeholders are named, `%(amount)s`, so translators see what goes where.
"""

from __future__ import annotations

from dataclasses import dataclass

from libcard.blocks.rules import Block
from libcard.kit.i18n import N_, day, money, translate
from libcard.policy.rules import BlockCode, FeeBlockLift, FeeComparison, Policy

TITLES: dict[BlockCode, str] = {
    BlockCode.PIN_LOCKED: N_("Blocked after too many wrong PINs"),
    BlockCode.FEE_THRESHOLD: N_("Blocked because of unpaid fees"),
    BlockCode.REPLACEMENT_UNPAID: N_("Blocked: unpaid replacement invoice"),
    BlockCode.IN_COLLECTION: N_("Blocked: debt with a collection agency"),
    BlockCode.STAFF: N_("Blocked by the library"),
    BlockCode.CARD_RETAINED: N_("Card retained by a self-checkout machine"),
}

REASONS: dict[BlockCode, str] = {
    BlockCode.PIN_LOCKED: N_("The PIN was entered wrongly %(limit)s times in a row."),
    BlockCode.FEE_THRESHOLD: N_("You owe %(amount)s; the limit is %(threshold)s."),
    BlockCode.REPLACEMENT_UNPAID: N_(
        "An invoice for replacing lost or damaged material is unpaid (%(amount)s outstanding)."
    ),
    BlockCode.IN_COLLECTION: N_("Debt of %(amount)s has been handed to a collection agency."),
    BlockCode.STAFF: N_("Reason: %(reason)s"),
    BlockCode.CARD_RETAINED: N_("The machine and what it reported: %(reason)s"),
}

# The step that lifts a block; a fee block and a staff block with an end date have their own.
LIFTS: dict[BlockCode, str] = {
    BlockCode.PIN_LOCKED: N_(
        "Come to a lending desk with a valid photo ID; the staff will lift the block."
    ),
    BlockCode.REPLACEMENT_UNPAID: N_(
        "Pay the replacement invoice in full (%(amount)s); the block lifts as soon as it is "
        "paid. Returning the material may cancel the invoice – ask at the desk."
    ),
    BlockCode.IN_COLLECTION: N_(
        "Pay the debt to the collection agency. The block lifts when the agency reports it "
        "paid in full, which can take up to 14 days."
    ),
    BlockCode.STAFF: N_("Contact the lending desk."),
    BlockCode.CARD_RETAINED: N_("Collect the card at the lending desk and bring a valid photo ID."),
}
FEE_LIFT_AT_ZERO = N_(
    "Pay all you owe (%(amount)s) online or at the desk. The block lifts as soon as the "
    "payment is registered."
)
FEE_LIFT_BELOW_THRESHOLD = N_(
    "Pay at least %(needed)s so that you owe less than %(threshold)s. The block lifts as "
    "soon as the payment is registered."
)
STAFF_LIFT_UNTIL = N_("The block ends on %(date)s. Contact the lending desk with any questions.")


@dataclass(frozen=True)
class BlockText:
    title: str
    reason: str
    lift: str


def describe(block: Block, policy: Policy, language: str, timezone: str) -> BlockText:
    """Title, reason and the exact step that lifts the block, in `language`."""
    currency = policy.currency
    values: dict[str, object] = {
        "amount": money(block.amount_minor or 0, currency, language),
        "threshold": money(policy.fee_block_threshold_minor, currency, language),
        "limit": policy.max_wrong_pins,
        "reason": block.reason or "",
    }
    if block.code is BlockCode.FEE_THRESHOLD:
        if policy.fee_block_lifts_at is FeeBlockLift.ZERO:
            lift = FEE_LIFT_AT_ZERO
        else:
            # The smallest payment that brings the balance under the threshold.
            margin = 1 if policy.fee_block_comparison is FeeComparison.AT_OR_ABOVE else 0
            owed = block.amount_minor or 0
            needed = max(owed - policy.fee_block_threshold_minor + margin, 0)
            values["needed"] = money(needed, currency, language)
            lift = FEE_LIFT_BELOW_THRESHOLD
    elif block.code is BlockCode.STAFF and block.ends_at is not None:
        values["date"] = day(block.ends_at, language, timezone)
        lift = STAFF_LIFT_UNTIL
    else:
        lift = LIFTS[block.code]
    reason = ""
    if block.code is not BlockCode.STAFF or block.reason:
        reason = translate(language, REASONS[block.code], **values)
    return BlockText(
        title=translate(language, TITLES[block.code]),
        reason=_sentence(reason),
        lift=_sentence(translate(language, lift, **values)),
    )


def pin_lockout_lift(language: str) -> str:
    """What lifts a PIN lockout, for answers about a PIN that carry no block."""
    return translate(language, LIFTS[BlockCode.PIN_LOCKED])


def _sentence(text: str) -> str:
    # Danish amounts end in "kr."; a sentence ending on one must not end in "kr..".
    return text.replace("..", ".")
