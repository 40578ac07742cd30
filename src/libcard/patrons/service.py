"""Patrons: create, read, change personal data with field ownership enforced (R8, R9)."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date
from typing import Any

from sqlalchemy import func, or_, select

from libcard.audit.service import record_on
from libcard.context import STAFF_KINDS, ActorKind, Ctx
from libcard.errors import Conflict, Forbidden, InvalidInput, NotFound
from libcard.kit.i18n import SUPPORTED
from libcard.patrons.models import Patron
from libcard.patrons.rules import normalise_email
from libcard.policy.models import PatronGroup
from libcard.policy.rules import COLUMN_TO_FIELD, Policy, may_write
from libcard.policy.service import get_institution, group_by_code, policy_for_group

# Who may create patrons at all; what each may fill in is then field ownership's business.
CREATORS = frozenset(
    {
        *STAFF_KINDS,
        ActorKind.REGISTRY,
        ActorKind.IDENTITY_PORTAL,
        ActorKind.SYSTEM,
    }
)
ORIGIN_KEYS = {ActorKind.REGISTRY: "registry_id", ActorKind.IDENTITY_PORTAL: "identity_id"}
TEXT_LIMITS = {
    "first_name": 100,
    "last_name": 100,
    "phone": 32,
    "street": 200,
    "postal_code": 16,
    "city": 100,
}


def _clean(column: str, value: Any) -> Any:
    """Normalise one personal value, refusing what no patron record should hold."""
    if value is None:
        if column in ("first_name", "last_name"):
            raise InvalidInput("field_required", f"{column} cannot be empty.")
        return None
    if column in ("email", "institutional_email"):
        return normalise_email(str(value))
    if column == "birth_date":
        if not isinstance(value, date):
            raise InvalidInput("birth_date_format", "A birth date is YYYY-MM-DD.")
        return value
    if column == "country":
        text = str(value).strip().upper()
        if len(text) != 2 or not text.isalpha():
            raise InvalidInput("country_format", "A country is a two-letter ISO code, like DK.")
        return text
    if column == "preferred_language":
        if value not in SUPPORTED:
            raise InvalidInput("language", f"Choose one of {', '.join(SUPPORTED)}.")
        return value
    text = str(value).strip()
    if column in ("first_name", "last_name") and not text:
        raise InvalidInput("field_required", f"{column} cannot be empty.")
    if len(text) > TEXT_LIMITS[column]:
        raise InvalidInput(
            "field_too_long", f"{column} has at most {TEXT_LIMITS[column]} characters."
        )
    return text or None


def check_ownership(ctx: Ctx, policy: Policy, columns: set[str]) -> None:
    """Refuse the whole change if any field in it is not the actor's to write (R8, R9)."""
    if ctx.actor.kind is ActorKind.SYSTEM:
        return
    for column in sorted(columns):
        owner = policy.owner_of(COLUMN_TO_FIELD[column])
        if not may_write(owner, ctx.actor.kind):
            field = COLUMN_TO_FIELD[column]
            raise Forbidden(
                "field_not_yours",
                f"The field {field!r} is owned by {owner.value.replace('_', ' ')} and cannot be "
                "changed here.",
                field=field,
                owner=owner.value,
            )


async def _check_unique_emails(ctx: Ctx, patron: Patron) -> None:
    for column in ("email", "institutional_email"):
        value = getattr(patron, column)
        if value is None:
            continue
        # No autoflush: the changed row would hit the unique constraint before this check
        # could answer with a Conflict.
        with ctx.session.no_autoflush:
            clash = await ctx.session.scalar(
                select(Patron.id).where(
                    Patron.institution_id == patron.institution_id,
                    or_(Patron.email == value, Patron.institutional_email == value),
                    Patron.id != (patron.id or -1),
                )
            )
        if clash is not None:
            raise Conflict("email_in_use", "Another account of this library uses this e-mail.")


async def create_patron(
    ctx: Ctx,
    institution_id: int,
    group_code: str,
    fields: Mapping[str, Any],
    *,
    registry_id: str | None = None,
    identity_id: str | None = None,
) -> tuple[Patron, Policy]:
    if ctx.actor.kind not in CREATORS:
        raise Forbidden("forbidden_create", "You may not register patrons.")
    await get_institution(ctx, institution_id)
    group = await group_by_code(ctx, institution_id, group_code)
    _, _, policy = await policy_for_group(ctx, group.id)
    unknown = set(fields) - set(COLUMN_TO_FIELD)
    if unknown:
        raise InvalidInput("unknown_field", f"Unknown field(s): {', '.join(sorted(unknown))}.")
    values = {column: _clean(column, value) for column, value in fields.items()}
    for required in ("first_name", "last_name"):
        if not values.get(required):
            raise InvalidInput("field_required", f"{required} is required.")
    check_ownership(ctx, policy, {c for c, v in values.items() if v is not None})
    now = ctx.clock.now()
    patron = Patron(
        institution_id=institution_id,
        group_id=group.id,
        registry_id=registry_id,
        identity_id=identity_id,
        created_at=now,
        updated_at=now,
        **values,
    )
    await _check_unique_emails(ctx, patron)
    for key, value in (("registry_id", registry_id), ("identity_id", identity_id)):
        if value is not None:
            clash = await ctx.session.scalar(
                select(Patron.id).where(
                    Patron.institution_id == institution_id, getattr(Patron, key) == value
                )
            )
            if clash is not None:
                raise Conflict("patron_exists", f"A patron with this {key} exists already.")
    ctx.session.add(patron)
    await ctx.session.flush()
    await record_on(ctx, "patron:create", patron, group=group.code)
    return patron, policy


async def get_patron(ctx: Ctx, patron_id: int) -> Patron:
    patron = await ctx.session.get(Patron, patron_id)
    if patron is None or not ctx.actor.may_see_patron(patron.id, patron.institution_id):
        # The same answer for "not there" and "not yours": ids are not to be probed.
        raise NotFound("patron_not_found", f"No patron with id {patron_id}.")
    return patron


async def get_patron_for_update(ctx: Ctx, patron_id: int) -> Patron:
    """The patron row, locked until commit (PostgreSQL); serialises ledger and PIN writes."""
    patron = await ctx.session.get(Patron, patron_id, with_for_update=True, populate_existing=True)
    if patron is None or not ctx.actor.may_see_patron(patron.id, patron.institution_id):
        raise NotFound("patron_not_found", f"No patron with id {patron_id}.")
    return patron


async def patron_policy(ctx: Ctx, patron: Patron) -> Policy:
    _, _, policy = await policy_for_group(ctx, patron.group_id)
    return policy


async def update_patron(ctx: Ctx, patron_id: int, changes: Mapping[str, Any]) -> Patron:
    patron = await get_patron(ctx, patron_id)
    unknown = set(changes) - set(COLUMN_TO_FIELD)
    if unknown:
        raise InvalidInput("unknown_field", f"Unknown field(s): {', '.join(sorted(unknown))}.")
    values = {column: _clean(column, value) for column, value in changes.items()}
    changed = {c: v for c, v in values.items() if getattr(patron, c) != v}
    if not changed:
        return patron
    check_ownership(ctx, await patron_policy(ctx, patron), set(changed))
    for column, value in changed.items():
        setattr(patron, column, value)
    await _check_unique_emails(ctx, patron)
    patron.updated_at = ctx.clock.now()
    await record_on(ctx, "patron:update", patron, fields=sorted(changed))
    return patron


async def change_group(ctx: Ctx, patron_id: int, group_code: str) -> Patron:
    if ctx.actor.kind not in (
        *STAFF_KINDS,
        ActorKind.REGISTRY,
        ActorKind.IDENTITY_PORTAL,
        ActorKind.SYSTEM,
    ):
        raise Forbidden("forbidden_group", "You may not move patrons between groups.")
    patron = await get_patron(ctx, patron_id)
    group: PatronGroup = await group_by_code(ctx, patron.institution_id, group_code)
    patron.group_id = group.id
    patron.updated_at = ctx.clock.now()
    await record_on(ctx, "patron:change_group", patron, group=group_code)
    return patron


async def search_patrons(
    ctx: Ctx,
    institution_id: int,
    *,
    name: str | None = None,
    email: str | None = None,
    registry_id: str | None = None,
    birth_date: date | None = None,
    limit: int = 50,
    offset: int = 0,
) -> list[Patron]:
    if ctx.actor.patron_id is not None:
        raise Forbidden("forbidden_search", "Searching patrons is for staff and integrations.")
    await get_institution(ctx, institution_id)
    query = select(Patron).where(Patron.institution_id == institution_id)
    if name:
        pattern = f"%{name.strip().lower()}%"
        full = func.lower(Patron.first_name + " " + Patron.last_name)
        query = query.where(full.like(pattern))
    if email:
        address = email.strip().lower()
        query = query.where(or_(Patron.email == address, Patron.institutional_email == address))
    if registry_id:
        query = query.where(Patron.registry_id == registry_id)
    if birth_date:
        query = query.where(Patron.birth_date == birth_date)
    query = query.order_by(Patron.last_name, Patron.first_name, Patron.id)
    return list((await ctx.session.scalars(query.limit(min(limit, 200)).offset(offset))).all())
