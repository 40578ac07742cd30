"""The ASGI application: the JSON API today; the portal and desk pages join it later."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI

from libcard import __version__
from libcard.runtime import Runtime
from libcard.web import problems
from libcard.web.api import router as api_router
from libcard.web.middleware import SecurityMiddleware


def create_app(runtime: Runtime, *, own_runtime: bool = False) -> FastAPI:
    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        yield
        if own_runtime:
            await runtime.close()

    app = FastAPI(
        title="libcard API",
        version=__version__,
        description=(
            "Library cards and patron accounts: who is this card, may they borrow, what do "
            "they owe. Errors are RFC 9457 problem documents with a stable `code`."
        ),
        openapi_url="/api/v1/openapi.json",
        docs_url="/api/v1/docs",
        redoc_url=None,
        lifespan=lifespan,
    )
    app.state.runtime = runtime
    problems.install(app)
    app.include_router(api_router.build(), prefix="/api/v1")

    @app.get("/healthz", include_in_schema=False)
    async def healthz() -> dict[str, str]:
        return {"status": "ok"}

    app.add_middleware(SecurityMiddleware, max_bytes=runtime.settings.max_request_bytes)
    return app
