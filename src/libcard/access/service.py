"""API tokens (stored as keyed digests) and throttling of guessable secrets."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import select, update
from sqlalchemy.dialects.postgresql import insert as postgresql_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert

from libcard.access.models import ApiToken, Throttle
from libcard.access.scopes import Scope
from libcard.audit.service import record
from libcard.context import Actor, ActorKind, Ctx
from libcard.errors import (
    Conflict,
    Forbidden,
    InvalidInput,
    NotFound,
    TooManyAttempts,
    Unauthenticated,
)
from libcard.kit.secrets import new_token

TOKEN_PREFIX = "lct_"  # noqa: S105 — recognisable in a leaked-secret scan


SINGLE_INSTITUTION_SOURCES = frozenset({ActorKind.CAMPUS_CARD, ActorKind.IDENTITY_PORTAL})


# A token's last use is written at most this often: the status decision stays read-only.
TOKEN_TOUCH_EVERY = timedelta(hours=1)


@dataclass(frozen=True)
class Caller:
    actor: Actor
    scopes: frozenset[Scope]
    token_id: int
    last_used_at: datetime | None = None

    def needs_touch(self, now: datetime) -> bool:
        return self.last_used_at is None or self.last_used_at + TOKEN_TOUCH_EVERY <= now


async def create_token(
    ctx: Ctx,
    *,
    name: str,
    actor_kind: ActorKind,
    scopes: Iterable[Scope],
    institution_id: int | None,
    patron_id: int | None = None,
    valid_days: int | None = None,
) -> tuple[ApiToken, str]:
    """Returns the stored token and its secret, which is shown this once and never again."""
    scope_set = sorted({Scope(s).value for s in scopes})
    if not scope_set:
        raise InvalidInput("token_scopes", "A token needs at least one scope.")
    if ctx.actor.kind not in (ActorKind.ADMIN, ActorKind.SYSTEM):
        raise Forbidden("forbidden_tokens", "Only an administrator may create API tokens.")
    if ctx.actor.institution_id is not None and institution_id != ctx.actor.institution_id:
        raise Forbidden("forbidden_institution", "Tokens can only be made for your institution.")
    if actor_kind is ActorKind.SYSTEM:
        raise InvalidInput("token_actor", "No token may act as libcard itself.")
    if actor_kind is ActorKind.PATRON and patron_id is None:
        raise InvalidInput("token_actor", "A patron token names its patron.")
    if actor_kind is ActorKind.AGENCY and institution_id is None:
        # An agency sees the cases of the institution that handed them over, and no other's.
        raise InvalidInput("token_actor", "A collection agency's token names its institution.")
    if actor_kind in SINGLE_INSTITUTION_SOURCES and institution_id is None:
        # A data source speaks for one institution's people: its token must say which.
        raise InvalidInput("token_actor", f"A {actor_kind.value} token names its institution.")
    secret = TOKEN_PREFIX + new_token()
    now = ctx.clock.now()
    token = ApiToken(
        institution_id=institution_id,
        name=name,
        digest=ctx.keyring.digest("api-token", secret),
        actor_kind=actor_kind.value,
        scopes=scope_set,
        patron_id=patron_id,
        created_at=now,
        expires_at=now + timedelta(days=valid_days) if valid_days else None,
    )
    ctx.session.add(token)
    await ctx.session.flush()
    await record(
        ctx,
        "token:create",
        "api_token",
        token.id,
        institution_id=institution_id,
        patron_id=patron_id,
        name=name,
        scopes=scope_set,
        actor_kind=actor_kind.value,
    )
    return token, secret


async def authenticate(ctx: Ctx, secret: str) -> Caller:
    token = await ctx.session.scalar(
        select(ApiToken).where(ApiToken.digest == ctx.keyring.digest("api-token", secret))
    )
    now = ctx.clock.now()
    if (
        token is None
        or token.revoked_at is not None
        or (token.expires_at is not None and token.expires_at <= now)
    ):
        raise Unauthenticated("invalid_token", "The bearer token is unknown, expired or revoked.")
    actor = Actor(
        kind=ActorKind(token.actor_kind),
        label=f"token:{token.name}",
        id=f"token:{token.id}",
        institution_id=token.institution_id,
        patron_id=token.patron_id,
    )
    return Caller(
        actor=actor,
        scopes=frozenset(Scope(s) for s in token.scopes),
        token_id=token.id,
        last_used_at=token.last_used_at,
    )


async def touch_token(ctx: Ctx, token_id: int) -> None:
    await ctx.session.execute(
        update(ApiToken).where(ApiToken.id == token_id).values(last_used_at=ctx.clock.now())
    )


async def revoke_token(ctx: Ctx, token_id: int) -> ApiToken:
    _require_token_admin(ctx)
    token = await ctx.session.get(ApiToken, token_id)
    if token is None or (
        ctx.actor.institution_id is not None and token.institution_id != ctx.actor.institution_id
    ):
        raise NotFound("token_not_found", f"No API token with id {token_id}.")
    if token.revoked_at is not None:
        raise Conflict("token_revoked", "This token has been revoked already.")
    token.revoked_at = ctx.clock.now()
    await record(ctx, "token:revoke", "api_token", token.id, institution_id=token.institution_id)
    return token


def _require_token_admin(ctx: Ctx) -> None:
    if ctx.actor.kind not in (ActorKind.ADMIN, ActorKind.SYSTEM):
        raise Forbidden("forbidden_tokens", "Only an administrator may manage API tokens.")


async def list_tokens(ctx: Ctx, institution_id: int) -> list[ApiToken]:
    """The tokens of one institution, newest first; deployment-wide tokens are not among them."""
    _require_token_admin(ctx)
    if ctx.actor.institution_id is not None and institution_id != ctx.actor.institution_id:
        raise Forbidden("forbidden_institution", "These tokens are not your institution's.")
    query = (
        select(ApiToken)
        .where(ApiToken.institution_id == institution_id)
        .order_by(ApiToken.created_at.desc(), ApiToken.id.desc())
    )
    return list((await ctx.session.scalars(query)).all())


async def get_token(ctx: Ctx, token_id: int) -> ApiToken:
    """One token's description (never its secret); another institution's answers NotFound."""
    _require_token_admin(ctx)
    token = await ctx.session.get(ApiToken, token_id)
    if token is None or (
        ctx.actor.institution_id is not None and token.institution_id != ctx.actor.institution_id
    ):
        raise NotFound("token_not_found", f"No API token with id {token_id}.")
    return token


async def check_throttle(ctx: Ctx, key: str, *, limit: int, window: timedelta) -> None:
    """Refuse further attempts once `limit` failures fell in the current window."""
    row = await ctx.session.get(Throttle, key)
    now = ctx.clock.now()
    if row is not None and row.window_started_at + window > now and row.failures >= limit:
        retry = int((row.window_started_at + window - now).total_seconds()) + 1
        raise TooManyAttempts(
            "too_many_attempts",
            f"Too many failed attempts. Try again in {max(retry // 60, 1)} minute(s).",
            retry_after_seconds=retry,
        )


async def count_failure(ctx: Ctx, key: str, *, window: timedelta) -> None:
    now = ctx.clock.now()
    # Insert-if-missing first, so that two first failures at once cannot collide.
    dialect = ctx.session.get_bind().dialect.name
    insert = postgresql_insert if dialect == "postgresql" else sqlite_insert
    await ctx.session.execute(
        insert(Throttle)
        .values(key=key, window_started_at=now, failures=0)
        .on_conflict_do_nothing(index_elements=["key"])
    )
    row = await ctx.session.get(Throttle, key, with_for_update=True, populate_existing=True)
    assert row is not None
    if row.window_started_at + window <= now:
        row.window_started_at, row.failures = now, 1
    else:
        row.failures += 1
    await ctx.session.flush()


async def clear_failures(ctx: Ctx, key: str) -> None:
    row = await ctx.session.get(Throttle, key)
    if row is not None:
        await ctx.session.delete(row)
