"""Turning service results into response bodies."""

from __future__ import annotations

from typing import Any

from libcard.blocks import service as blocks
from libcard.blocks.rules import Block
from libcard.blocks.texts import describe
from libcard.cards.models import Card
from libcard.cards.rules import CardState
from libcard.context import Actor, Ctx
from libcard.fees.service import FeeView
from libcard.patrons.models import Patron
from libcard.patrons.service import get_patron
from libcard.policy.models import Institution, PatronGroup
from libcard.policy.rules import (
    COLUMN_TO_FIELD,
    PERSONAL_FIELDS,
    BlockCode,
    PaymentLogin,
    Policy,
    may_write,
)
from libcard.policy.service import policy_for_group, policy_of
from libcard.web.api import schemas as s
from libcard.web.api.deps import Api


def card_out(card: Card, state: CardState | None = None) -> s.CardOut:
    return s.CardOut(
        id=card.id,
        kind=card.kind,
        number=card.number,
        state=(state or card.state),
        issued_at=card.issued_at,
        activated_at=card.activated_at,
        expires_at=card.expires_at,
        replaces_card_id=card.replaces_card_id,
    )


def patron_out(patron: Patron, group: PatronGroup, policy: Policy, viewer: Actor) -> s.PatronOut:
    fields = {
        name: s.FieldInfo(
            owner=policy.owner_of(name),
            editable_by_you=may_write(policy.owner_of(name), viewer.kind),
        )
        for name in PERSONAL_FIELDS
    }
    values = {column: getattr(patron, column) for column in COLUMN_TO_FIELD}
    return s.PatronOut(
        id=patron.id,
        institution_id=patron.institution_id,
        group=group.code,
        registry_id=patron.registry_id,
        identity_id=patron.identity_id,
        activated=patron.activated_at is not None,
        activated_at=patron.activated_at,
        created_at=patron.created_at,
        fields=fields,
        **values,
    )


def block_out(block: Block, policy: Policy, language: str, timezone: str) -> s.BlockOut:
    text = describe(block, policy, language, timezone)
    return s.BlockOut(
        id=block.stored_id or None,
        code=block.code,
        title=text.title,
        reason=text.reason,
        lift=text.lift,
        effects=sorted(block.effects),
        since=block.since,
        ends_at=block.ends_at,
        amount=(
            s.Money.of(block.amount_minor, policy.currency)
            if block.amount_minor is not None
            else None
        ),
    )


def fee_out(view: FeeView) -> s.FeeOut:
    fee, status, cur = view.fee, view.status, view.fee.currency
    return s.FeeOut(
        id=fee.id,
        type=fee.type,
        description=fee.description,
        created_at=fee.created_at,
        amount=s.Money.of(fee.amount_minor, cur),
        paid=s.Money.of(status.paid_minor, cur),
        waived=s.Money.of(status.waived_minor, cur),
        refunded=s.Money.of(status.refunded_minor, cur),
        outstanding=s.Money.of(status.outstanding_minor, cur),
        state=status.state.value,
        settled_at=status.settled_at,
        item_barcode=fee.item_barcode,
    )


def institution_out(institution: Institution) -> s.InstitutionOut:
    return s.InstitutionOut(
        id=institution.id,
        code=institution.code,
        name=institution.name,
        card_prefix=institution.card_prefix,
        card_number_length=institution.card_number_length,
        currency=institution.currency,
        timezone=institution.timezone,
        default_language=institution.default_language,
        max_wrong_pins=institution.max_wrong_pins,
        fee_block_threshold=s.Money.of(institution.fee_block_threshold_minor, institution.currency),
        fee_block_comparison=institution.fee_block_comparison,
        fee_block_lifts_at=institution.fee_block_lifts_at,
        block_effects=institution.block_effects or {},
        activation_code_days=institution.activation_code_days,
        password_reset_minutes=institution.password_reset_minutes,
        card_valid_years=institution.card_valid_years,
        collection_agency=institution.collection_agency,
        collection_min_debt=s.Money.of(institution.collection_min_debt_minor, institution.currency),
        collection_min_age_days=institution.collection_min_age_days,
        collection_notice_days=institution.collection_notice_days,
        payment_login=PaymentLogin(institution.payment_login),
        registry_grace_days=institution.registry_grace_days,
    )


def group_out(institution: Institution, group: PatronGroup) -> s.GroupOut:
    policy = policy_of(institution, group)
    effective = s.EffectivePolicy(
        currency=policy.currency,
        max_wrong_pins=policy.max_wrong_pins,
        fee_block_threshold=s.Money.of(policy.fee_block_threshold_minor, policy.currency),
        fee_block_comparison=policy.fee_block_comparison,
        fee_block_lifts_at=policy.fee_block_lifts_at,
        may_hold_physical_card=policy.may_hold_physical_card,
        card_replacement_fee=s.Money.of(policy.card_replacement_fee_minor, policy.currency),
        field_owners=dict(policy.field_owners),
        block_effects={code.value: sorted(policy.effects_of(code)) for code in BlockCode},
        fine_per_day=s.Money.of(policy.fine_per_day_minor, policy.currency),
        fine_cap=s.Money.of(policy.fine_cap_minor, policy.currency),
        **_loan_rules(policy),
    )
    return s.GroupOut(
        id=group.id,
        institution_id=group.institution_id,
        code=group.code,
        name=group.name,
        may_hold_physical_card=group.may_hold_physical_card,
        card_replacement_fee_minor=group.card_replacement_fee_minor,
        field_owners=group.field_owners or {},
        max_wrong_pins=group.max_wrong_pins,
        fee_block_threshold_minor=group.fee_block_threshold_minor,
        block_effects=group.block_effects,
        effective=effective,
        fine_per_day_minor=group.fine_per_day_minor,
        fine_cap_minor=group.fine_cap_minor,
        **_loan_rules(policy),
    )


def _loan_rules(policy: Policy) -> dict[str, Any]:
    # A group's loan rules are its own: stored and effective are the same values.
    return {name: getattr(policy, name) for name in s.LoanRules.model_fields}


async def account_blocks_out(
    api: Api, ctx: Ctx, patron_id: int
) -> tuple[list[tuple[Block, s.BlockOut]], int]:
    """The account's blocks, each with its texts in the caller's language (falling back to
    the patron's, then the institution's), and the balance they were judged on."""
    patron = await get_patron(ctx, patron_id)
    institution, _, _ = await policy_for_group(ctx, patron.group_id)
    found, policy, ledger = await blocks.account_blocks(ctx, patron)
    language = api.language(patron.preferred_language or institution.default_language)
    texts = [(b, block_out(b, policy, language, institution.timezone)) for b in found]
    return texts, ledger.balance_minor
