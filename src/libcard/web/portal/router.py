"""The portal's routes, and its error page for what the routes do not handle themselves."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import Response

from libcard.errors import LibcardError
from libcard.web.portal import account_routes, auth_routes, data_routes
from libcard.web.portal.render import error_page
from libcard.web.portal.visit import Visit, cookie_names, visitor_language


def build() -> APIRouter:
    router = APIRouter(include_in_schema=False)
    for module in (auth_routes, account_routes, data_routes):
        router.include_router(module.router)
    return router


def html_error(request: Request, error: LibcardError) -> Response:
    """An error page in the visitor's language; it needs no database, which may be the cause."""
    runtime = request.app.state.runtime
    fallback = runtime.settings.default_language
    visit = Visit(
        request, runtime, visitor_language(request, None, fallback), fallback_language=fallback
    )
    visit.visit_secret = request.cookies.get(cookie_names(runtime.settings.cookie_secure)[1])
    return error_page(visit, error)
