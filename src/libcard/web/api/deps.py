"""Per-request plumbing of the API: bearer authentication, scope checks, one unit of work."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Annotated

from fastapi import Depends, Path, Query, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from libcard.access.scopes import Scope
from libcard.access.service import authenticate, touch_token
from libcard.context import Ctx
from libcard.errors import Forbidden, Unauthenticated
from libcard.kit.i18n import negotiate
from libcard.runtime import Runtime
from libcard.web.api.schemas import MAX_ID

# An id in a path or query: a number the database can hold, or 422 before any query.
IdPath = Annotated[int, Path(ge=1, le=MAX_ID)]
IdQuery = Annotated[int | None, Query(ge=1, le=MAX_ID)]

bearer = HTTPBearer(auto_error=False, description="An API token: `Authorization: Bearer lct_…`")


class Api:
    """What a route receives: opens the unit of work as the token's actor, scope checked."""

    def __init__(self, request: Request, credentials: HTTPAuthorizationCredentials | None) -> None:
        self.request = request
        self.runtime: Runtime = request.app.state.runtime
        self.secret = credentials.credentials if credentials else None

    @asynccontextmanager
    async def unit(self, scope: Scope, *, readonly: bool = False) -> AsyncIterator[Ctx]:
        if not self.secret:
            raise Unauthenticated("token_required", "Send an API token as a Bearer token.")
        async with self.runtime.unit(readonly=readonly) as ctx:
            caller = await authenticate(ctx, self.secret)
            if scope not in caller.scopes:
                raise Forbidden(
                    "scope_missing",
                    f"This token lacks the scope {scope.value!r}.",
                    scope=scope.value,
                )
            yield ctx.as_actor(caller.actor)
        if caller.needs_touch(self.runtime.clock.now()):
            # For the admin page's "last used"; a unit of its own, at most hourly.
            async with self.runtime.unit() as ctx:
                await touch_token(ctx, caller.token_id)

    def language(self, fallback: str) -> str:
        return negotiate(self.request.headers.get("accept-language"), fallback)


def _api(
    request: Request,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer)],
) -> Api:
    return Api(request, credentials)


ApiDep = Annotated[Api, Depends(_api)]
