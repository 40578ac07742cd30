"""Mail to the patron when a block is placed on or lifted from their account.

The same texts as the portal's (`blocks.texts`), in the mail's language, so a mail never says
other than the page. This module reads no block source itself (no fees, cards or collection
cases), so that the PIN lockout in `cards.pin` can mail through it too.
"""

from __future__ import annotations

from collections.abc import Sequence

from libcard.blocks.rules import Block
from libcard.blocks.texts import BlockText, describe
from libcard.context import Ctx
from libcard.notify.recipient import mail_recipient, recipient
from libcard.patrons.models import Patron
from libcard.patrons.service import patron_policy
from libcard.policy.models import Institution
from libcard.policy.rules import BlockCode

# Blocks whose reason is a person's or a machine's own words: the lifted mail repeats them,
# so the patron knows which of several such blocks went.
_WORDED = frozenset({BlockCode.STAFF, BlockCode.CARD_RETAINED})


def _key(block: Block) -> tuple[BlockCode, int | None]:
    # Derived blocks are one of a kind per account; stored ones are told apart by their row.
    return block.code, block.stored_id


async def mail_block_changes(
    ctx: Ctx, patron: Patron, before: Sequence[Block], after: Sequence[Block]
) -> None:
    """Queue a `block_placed` mail for each block in `after` that `before` lacks, and a
    `block_lifted` mail for each block of `before` that `after` lacks (compared by code and,
    for stored blocks, by id), in the caller's transaction."""
    had = {_key(block) for block in before}
    has = {_key(block) for block in after}
    placed = [block for block in after if _key(block) not in had]
    lifted = [block for block in before if _key(block) not in has]
    if not placed and not lifted:
        return
    institution = await ctx.session.get(Institution, patron.institution_id)
    assert institution is not None  # the patron's foreign key
    to = recipient(patron, institution)
    if to is None:
        return
    policy = await patron_policy(ctx, patron)
    for block in placed:
        text = describe(block, policy, to.language, to.timezone)
        await mail_recipient(ctx, to, "block_placed", reason=_why(text), lift=text.lift)
    for block in lifted:
        text = describe(block, policy, to.language, to.timezone)
        what = _why(text) if block.code in _WORDED else _sentence(text.title)
        await mail_recipient(ctx, to, "block_lifted", reason=what)


def _why(text: BlockText) -> str:
    """The block's title and its reason as one paragraph: "Blocked by the library. Reason: …"."""
    if not text.reason:
        return _sentence(text.title)
    return f"{_sentence(text.title)} {text.reason}"


def _sentence(text: str) -> str:
    return text if text.endswith((".", "!", "?")) else f"{text}."
