"""The app's token for a code from the portal (OAuth 2.0 for native apps, RFC 8252, with PKCE):
the token endpoint of the login that happens in the patron's browser (web/portal/app_routes.py).

The answer is the same patron token as `POST /me/token` makes, by the same issuer.
"""

from __future__ import annotations

import json
from typing import Any, Literal

from fastapi import APIRouter, Request
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from libcard.access.app_codes import AppGrantRefused, redeem_code
from libcard.errors import LibcardError
from libcard.patrons.models import Patron
from libcard.runtime import Runtime
from libcard.web.api import me_schemas as m
from libcard.web.api.me_routes import APP_VISITOR, issue_app_token

router = APIRouter(tags=["me"])

FORM = "application/x-www-form-urlencoded"
MAX_VALUE = 2000  # longer than any code, verifier or redirect URI of ours


class MeTokenCodeIn(BaseModel):
    # RFC 6749 3.2: the token endpoint ignores parameters it does not know.
    model_config = ConfigDict(extra="ignore")

    grant_type: Literal["authorization_code"]
    code: str = Field(min_length=1, max_length=MAX_VALUE, description="The code from the portal.")
    redirect_uri: str = Field(
        min_length=1, max_length=MAX_VALUE, description="The redirect_uri the code was asked with."
    )
    client_id: str = Field(min_length=1, max_length=MAX_VALUE, description="The app's client id.")
    code_verifier: str = Field(
        min_length=1, max_length=MAX_VALUE, description="The PKCE verifier (RFC 7636)."
    )


class TokenRequestRefused(LibcardError):
    """A request the token endpoint cannot read (RFC 6749 5.2); nothing was looked up."""

    status = 400
    title = "Token request refused"


def _request_refused(code: str, message: str) -> TokenRequestRefused:
    return TokenRequestRefused(code, message, error=code)


async def _body(request: Request) -> dict[str, Any]:
    content_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if content_type == FORM:
        form = await request.form()
        values: dict[str, Any] = {}
        for name, value in form.multi_items():
            if name in values:
                raise _request_refused("invalid_request", f"{name} is sent more than once.")
            values[name] = value if isinstance(value, str) else None
        return values
    if content_type == "application/json":
        try:
            body = json.loads(await request.body())
        except ValueError:
            raise _request_refused("invalid_request", "The body is not JSON.") from None
        if not isinstance(body, dict):
            raise _request_refused("invalid_request", "The body is not a JSON object.")
        return body
    raise _request_refused("invalid_request", f"Send the body as {FORM} or application/json.")


_BODY_SCHEMA = MeTokenCodeIn.model_json_schema()


@router.post(
    "/me/token/code",
    response_model=m.MeTokenOut,
    openapi_extra={
        "requestBody": {
            "required": True,
            "content": {
                FORM: {"schema": _BODY_SCHEMA},
                "application/json": {"schema": _BODY_SCHEMA},
            },
        }
    },
    responses={
        400: {
            "description": "`invalid_grant`: the code is unknown, expired, used already (then "
            "the token it gave is revoked), for another app or redirect URI, or the "
            "code_verifier does not match; `invalid_request`, `unsupported_grant_type`. A "
            "problem document whose `error` is the OAuth error code.",
        },
        429: {"description": "Too many refused codes from this address."},
    },
)
async def app_token_by_code(request: Request) -> m.MeTokenOut:
    """The token endpoint of the app's login in the browser (OAuth 2.0 authorization code with
    PKCE, S256): trade the one-time code from `GET /app/authorize` for a patron token with
    the scope `me`, valid for 30 days, as `POST /me/token` gives. The code works once, for
    two minutes, for the app and redirect URI it was given to; presented again, the token it
    gave is revoked. Refused codes are counted per client address: too many answer 429."""
    runtime: Runtime = request.app.state.runtime
    values = await _body(request)
    if values.get("grant_type") != "authorization_code":
        raise _request_refused(
            "unsupported_grant_type", "Only grant_type=authorization_code is served here."
        )
    try:
        body = MeTokenCodeIn.model_validate(values)
    except ValidationError as error:
        missing = sorted({str(e["loc"][0]) for e in error.errors() if e.get("loc")})
        raise _request_refused(
            "invalid_request", f"Missing or invalid: {', '.join(missing)}."
        ) from None
    address = request.client.host if request.client else "unknown"
    async with runtime.unit(APP_VISITOR) as ctx:
        code = await redeem_code(
            ctx,
            code=body.code,
            client_id=body.client_id,
            redirect_uri=body.redirect_uri,
            verifier=body.code_verifier,
            client_address=address,
        )
        patron = await ctx.session.get(Patron, code.patron_id)
        if patron is None or patron.closed_at is not None:
            raise AppGrantRefused(
                "invalid_grant", "The account of this code is closed.", error="invalid_grant"
            )
        token, answer = await issue_app_token(ctx, patron)
        code.token_id = token.id
    return answer
