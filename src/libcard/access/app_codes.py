"""The institution's app logs in through the portal (OAuth 2.0 for native apps, RFC 8252): the
patron allows the app on a portal page, the app gets a one-time code and trades it, with the
PKCE verifier only it holds (RFC 7636, S256), for a patron token. The app never sees a password.

Codes live two minutes, are stored as keyed digests, and work once: any wrong try spends the
code, and a code presented again revokes the token it gave (RFC 6749 4.1.2), because then
someone else has it too.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
from collections.abc import Mapping, Sequence
from datetime import timedelta
from typing import NoReturn
from urllib.parse import urlsplit

from sqlalchemy import select, update

from libcard.access.models import ApiToken, AppAuthorizationCode
from libcard.access.service import check_throttle, count_failure
from libcard.audit.service import record
from libcard.context import Ctx
from libcard.errors import LibcardError
from libcard.kit.secrets import new_token

CODE_LIFETIME = timedelta(minutes=2)
CODE_PURPOSE = "app-authorization-code"
# Wrong codes per client address and window, as many as wrong passwords from one address.
ADDRESS_ATTEMPTS = 30
WINDOW = timedelta(minutes=15)
LOOPBACK_HOSTS = ("127.0.0.1", "::1")
# RFC 7636 4.1 and 4.2: a verifier is 43-128 unreserved characters; its S256 challenge is the
# unpadded base64url of a SHA-256 digest, always 43 characters.
_VERIFIER = re.compile(r"[A-Za-z0-9._~-]{43,128}")
_S256_CHALLENGE = re.compile(r"[A-Za-z0-9_-]{43}")


class AppGrantRefused(LibcardError):
    """The token endpoint's refusal (RFC 6749 5.2); kept, so a spent or revoked grant stays so."""

    status = 400
    title = "Authorization code refused"
    keeps_effects = True


def refused(message: str) -> AppGrantRefused:
    return AppGrantRefused("invalid_grant", message, error="invalid_grant")


# --- pure rules -------------------------------------------------------------------------------


def redirect_uri_allowed(registered: Sequence[str], asked: str) -> bool:
    """An exact match, or a loopback URI that differs only in its port (RFC 8252 7.3: the app
    listens on whatever port the system gives it)."""
    if asked in registered:
        return True
    try:
        parts = urlsplit(asked)
        port = parts.port
    except ValueError:
        return False
    if (
        parts.scheme != "http"
        or parts.hostname not in LOOPBACK_HOSTS
        or parts.fragment
        or parts.username is not None
    ):
        return False
    for uri in registered:
        known = urlsplit(uri)
        if (
            known.scheme == "http"
            and known.hostname == parts.hostname
            and known.path == parts.path
            and known.query == parts.query
            and (port is None or 0 < port < 65536)
        ):
            return True
    return False


def client_redirect_allowed(
    clients: Mapping[str, Sequence[str]], client_id: str, redirect_uri: str
) -> bool:
    registered = clients.get(client_id)
    return registered is not None and redirect_uri_allowed(registered, redirect_uri)


def is_s256_challenge(challenge: str) -> bool:
    return _S256_CHALLENGE.fullmatch(challenge) is not None


def s256(verifier: str) -> str:
    digest = hashlib.sha256(verifier.encode("ascii")).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode("ascii")


def verifier_matches(verifier: str, challenge: str) -> bool:
    if _VERIFIER.fullmatch(verifier) is None:
        return False
    return hmac.compare_digest(s256(verifier), challenge)


# --- codes ------------------------------------------------------------------------------------


async def issue_code(
    ctx: Ctx, patron_id: int, *, client_id: str, redirect_uri: str, code_challenge: str
) -> str:
    """A new code for the patron who allowed the app; returned this once, stored as a digest."""
    code = new_token()
    now = ctx.clock.now()
    row = AppAuthorizationCode(
        digest=ctx.keyring.digest(CODE_PURPOSE, code),
        patron_id=patron_id,
        client_id=client_id,
        redirect_uri=redirect_uri,
        code_challenge=code_challenge,
        created_at=now,
        expires_at=now + CODE_LIFETIME,
    )
    ctx.session.add(row)
    await ctx.session.flush()
    await record(
        ctx,
        "app:authorize",
        "patron",
        patron_id,
        institution_id=ctx.actor.institution_id,
        patron_id=patron_id,
        client_id=client_id,
    )
    return code


async def redeem_code(
    ctx: Ctx,
    *,
    code: str,
    client_id: str,
    redirect_uri: str,
    verifier: str,
    client_address: str,
) -> AppAuthorizationCode:
    """The code's row, now spent, when every check holds; the caller makes the token and
    records it in `token_id`. Anything else is `invalid_grant` and counted per address."""
    key = f"app-code-address:{client_address}"
    await check_throttle(ctx, key, limit=ADDRESS_ATTEMPTS, window=WINDOW)
    row = await ctx.session.scalar(
        select(AppAuthorizationCode)
        .where(AppAuthorizationCode.digest == ctx.keyring.digest(CODE_PURPOSE, code))
        .with_for_update()
    )
    now = ctx.clock.now()
    if row is None:
        await _refuse(ctx, key, None, "The authorization code is unknown.")
    if row.used_at is not None:
        await _revoke_given_token(ctx, row)
        await _refuse(ctx, key, None, "The authorization code has been used already.")
    if row.expires_at <= now:
        await _refuse(ctx, key, row, "The authorization code has expired.")
    if row.client_id != client_id:
        await _refuse(ctx, key, row, "The authorization code was given to another app.")
    if row.redirect_uri != redirect_uri:
        await _refuse(ctx, key, row, "The redirect_uri is not the one the code was asked with.")
    if not verifier_matches(verifier, row.code_challenge):
        await _refuse(ctx, key, row, "The code_verifier does not match the code_challenge.")
    row.used_at = now
    await ctx.session.flush()
    return row


async def _refuse(ctx: Ctx, key: str, spend: AppAuthorizationCode | None, message: str) -> NoReturn:
    if spend is not None and spend.used_at is None:
        spend.used_at = ctx.clock.now()  # one try per code: no guessing at its verifier
    await count_failure(ctx, key, window=WINDOW)
    raise refused(message)


async def _revoke_given_token(ctx: Ctx, row: AppAuthorizationCode) -> None:
    if row.token_id is None:
        return
    revoked = await ctx.session.execute(
        update(ApiToken)
        .where(ApiToken.id == row.token_id, ApiToken.revoked_at.is_(None))
        .values(revoked_at=ctx.clock.now())
    )
    if getattr(revoked, "rowcount", 0):
        token = await ctx.session.get(ApiToken, row.token_id)
        await record(
            ctx,
            "token:revoke",
            "api_token",
            row.token_id,
            institution_id=token.institution_id if token else None,
            patron_id=row.patron_id,
            reason="authorization code used twice",
        )
