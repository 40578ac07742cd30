"""The SCIM 2.0 service provider for the staff identity portal, at /scim/v2 (docs/scim.md).

scim2-server speaks the protocol; this module authenticates each request with a libcard API
token (scope `scim`, actor `identity_portal`, bound to one institution) and runs the request
in one unit of work as that token's actor, so a refused change rolls back whole."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import cast

from fastapi import FastAPI
from scim2_models import ForbiddenException, SCIMException, UnauthorizedException
from scim2_server.applications.asgi import ASGIApplication, Send
from scim2_server.requests import ScimRequest
from scim2_server.responses import ScimResponse
from scim2_server.routing import Operation
from scim2_server.service import ScimService
from starlette.types import ASGIApp

from libcard.access.scopes import Scope
from libcard.access.service import authenticate, touch_token
from libcard.context import ActorKind
from libcard.errors import Unauthenticated
from libcard.notify.sender import wake_mail
from libcard.runtime import Runtime
from libcard.scim.resources import provider
from libcard.scim.storage import EmployeeStorage, bind

PREFIX = "/scim"
# Operations that change nothing run in a read-only unit (no write lock on SQLite).
READING = frozenset(
    {
        Operation.query,
        Operation.search,
        Operation.search_with_body,
        Operation.service_provider_config,
        Operation.resource_types,
        Operation.resource_type,
        Operation.schemas,
        Operation.schema,
    }
)


class ScimApplication(ASGIApplication):
    def __init__(self, runtime: Runtime, after_write: Callable[[], None]) -> None:
        scim_provider = provider()
        super().__init__(
            EmployeeStorage(runtime.settings.public_url),
            scim_provider,
            ScimService(scim_provider),
        )
        self.runtime = runtime
        self.after_write = after_write

    def needs_auth(self, request: ScimRequest) -> bool:
        # Every endpoint, the configuration included: it says nothing secret, but a service
        # that answers only its integration is easier to reason about.
        return True

    async def dispatch_request(self, request: ScimRequest) -> ScimResponse:
        scheme, _, secret = (request.header("Authorization") or "").partition(" ")
        if scheme.lower() != "bearer" or not secret.strip():
            raise UnauthorizedException(
                detail="Send an API token of scope 'scim' as a Bearer token."
            )
        try:
            readonly = self.service.match(request).operation in READING
        except SCIMException:
            readonly = True  # no such endpoint: the handler answers that, once authenticated
        async with self.runtime.unit(readonly=readonly) as ctx:
            try:
                caller = await authenticate(ctx, secret.strip())
            except Unauthenticated as error:
                raise UnauthorizedException(detail=error.message) from error
            if Scope.SCIM not in caller.scopes:
                raise ForbiddenException(detail="This token lacks the scope 'scim'.")
            if (
                caller.actor.kind is not ActorKind.IDENTITY_PORTAL
                or caller.actor.institution_id is None
            ):
                raise ForbiddenException(
                    detail="SCIM takes a token of the identity portal, for one institution."
                )
            with bind(ctx.as_actor(caller.actor)):
                response = await self.handler.handle(request)
        if caller.needs_touch(self.runtime.clock.now()):
            async with self.runtime.unit() as ctx:
                await touch_token(ctx, caller.token_id)
        if not readonly:
            self.after_write()  # committed: a new employee's activation mail may go
        return response

    @staticmethod
    async def send_response(response: ScimResponse, send: Send) -> None:
        # Header names in lower case, as ASGI has them, so the security middleware's own
        # defaults (cache-control) do not come twice.
        body = b"" if response.body is None else json.dumps(response.body).encode()
        await send(
            {
                "type": "http.response.start",
                "status": int(response.status),
                "headers": [
                    (name.lower().encode(), value.encode())
                    for name, value in response.headers.items()
                ],
            }
        )
        await send({"type": "http.response.body", "body": body})


def install(app: FastAPI) -> None:
    """Mount the service at /scim (and /scim/v2) of the libcard application."""
    runtime: Runtime = app.state.runtime
    # scim2-server types its ASGI callable with plain dicts; Starlette's are the same at run time.
    app.mount(PREFIX, cast(ASGIApp, ScimApplication(runtime, lambda: wake_mail(app))))
