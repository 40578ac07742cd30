"""The ASGI application: the JSON API under /api/v1, the patron portal, the desk (/desk)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

from fastapi import FastAPI, Request
from fastapi.responses import Response
from fastapi.staticfiles import StaticFiles

from libcard import __version__
from libcard.errors import LibcardError
from libcard.jobs.scheduler import JobScheduler
from libcard.notify.sender import MailSender, transport_from
from libcard.runtime import Runtime
from libcard.scim import app as scim_app
from libcard.wallet.branding import MAX_LOGO_BYTES
from libcard.web import problems
from libcard.web.api import registry_routes
from libcard.web.api import router as api_router
from libcard.web.desk import admin_wallet_routes
from libcard.web.desk import router as desk_router
from libcard.web.middleware import SecurityMiddleware
from libcard.web.portal import router as portal_router
from libcard.web.wallet_routes import router as wallet_router

STATIC = Path(__file__).resolve().parent / "static"
API_PREFIX = "/api/v1"


def create_app(runtime: Runtime, *, own_runtime: bool = False) -> FastAPI:
    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        # Mail queued by a request goes out from here once its unit of work has committed.
        mail_sender = MailSender(runtime, transport_from(runtime.settings))
        app.state.mail_sender = mail_sender
        mail_sender.start()
        # The daily jobs, unless `libcard worker` processes run them (LIBCARD_RUN_JOBS=false).
        scheduler = JobScheduler(runtime) if runtime.settings.run_jobs else None
        app.state.job_scheduler = scheduler
        if scheduler is not None:
            scheduler.start()
        try:
            yield
        finally:
            if scheduler is not None:
                await scheduler.stop()
            await mail_sender.stop()
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

    async def html_error(request: Request, error: LibcardError) -> Response:
        if desk_router.is_desk(request):
            return await desk_router.html_error(request, error)
        return portal_router.html_error(request, error)

    problems.install(app, html=html_error)
    app.include_router(api_router.build(), prefix=API_PREFIX)
    app.include_router(wallet_router)
    portal_router.install(app)
    desk_router.install(app)
    scim_app.install(app)  # /scim/v2: the staff identity portal (docs/scim.md)
    app.mount("/static", StaticFiles(directory=STATIC), name="static")

    @app.get("/healthz", include_in_schema=False)
    async def healthz() -> dict[str, str]:
        return {"status": "ok"}

    app.add_middleware(
        SecurityMiddleware,
        max_bytes=runtime.settings.max_request_bytes,
        # The wallet logo: the largest PNG the branding takes, and the rest of its form.
        uploads={
            admin_wallet_routes.PAGE: MAX_LOGO_BYTES + 64 * 1024,
            # A whole registry export (100 000 students is about 7 MiB of CSV).
            API_PREFIX + registry_routes.PATH: registry_routes.MAX_BODY_BYTES,
        },
    )
    return app
