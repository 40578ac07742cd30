"""The portal's routes, and its error page for what the routes do not handle themselves."""

from __future__ import annotations

from fastapi import APIRouter, FastAPI, Request
from fastapi.responses import Response

from libcard.errors import LibcardError
from libcard.web.portal import (
    account_routes,
    app_routes,
    auth_routes,
    data_routes,
    loan_routes,
    payment_routes,
    sso_activation_routes,
    sso_routes,
    strong_login_routes,
    wallet_routes,
)
from libcard.web.portal.render import error_page, redirect
from libcard.web.portal.visit import LoginRequired, anonymous_visit


def build() -> APIRouter:
    router = APIRouter(include_in_schema=False)
    for module in (
        auth_routes,
        strong_login_routes,
        sso_routes,
        sso_activation_routes,
        app_routes,
        account_routes,
        loan_routes,
        payment_routes,
        data_routes,
        wallet_routes,
    ):
        router.include_router(module.router)
    return router


def html_error(request: Request, error: LibcardError) -> Response:
    """An error page in the visitor's language; it needs no database, which may be the cause."""
    return error_page(anonymous_visit(request), error)


async def login_redirect(request: Request, refusal: Exception) -> Response:
    assert isinstance(refusal, LoginRequired)
    return redirect(refusal.visit, f"/login?next={request.url.path}")


def install(app: FastAPI) -> None:
    app.include_router(build())
    app.add_exception_handler(LoginRequired, login_redirect)
