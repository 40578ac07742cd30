"""The desk's routes, and its answers for what the routes do not handle themselves."""

from __future__ import annotations

from fastapi import APIRouter, FastAPI, Request
from fastapi.responses import Response

from libcard.errors import LibcardError
from libcard.web.desk import (
    admin_access_routes,
    admin_place_routes,
    admin_routes,
    admin_wallet_routes,
    auth_routes,
    card_routes,
    collection_routes,
    find_routes,
    loan_routes,
    money_routes,
    patron_routes,
    register_routes,
)
from libcard.web.desk.render import error_page, redirect
from libcard.web.desk.visit import (
    PasswordChangeRequired,
    StaffLoginRequired,
    anonymous_desk_visit,
    open_desk_visit,
)

ROUTE_MODULES = (
    auth_routes,
    find_routes,
    patron_routes,
    card_routes,
    loan_routes,
    money_routes,
    collection_routes,
    register_routes,
    admin_routes,
    admin_place_routes,
    admin_access_routes,
    admin_wallet_routes,
)


def build() -> APIRouter:
    router = APIRouter(include_in_schema=False)
    for module in ROUTE_MODULES:
        router.include_router(module.router)
    return router


def is_desk(request: Request) -> bool:
    return request.url.path == "/desk" or request.url.path.startswith("/desk/")


async def html_error(request: Request, error: LibcardError) -> Response:
    """An error page with the staff member's navigation and language; without them when the
    database, which may be the cause, cannot say who is there."""
    try:
        visit = await open_desk_visit(request)
    except Exception:  # any failure here must still give the page
        visit = anonymous_desk_visit(request)
    return error_page(visit, error)


async def login_redirect(request: Request, refusal: Exception) -> Response:
    assert isinstance(refusal, StaffLoginRequired)
    target = request.url.path if request.method == "GET" else "/desk"
    return redirect(refusal.visit, f"/desk/login?next={target}")


async def password_redirect(_: Request, refusal: Exception) -> Response:
    assert isinstance(refusal, PasswordChangeRequired)
    return redirect(refusal.visit, "/desk/account")


def install(app: FastAPI) -> None:
    app.include_router(build())
    app.add_exception_handler(StaffLoginRequired, login_redirect)
    app.add_exception_handler(PasswordChangeRequired, password_redirect)
