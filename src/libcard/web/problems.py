"""Errors as RFC 9457 problem documents; the one place HTTP learns about LibcardError."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from starlette.exceptions import HTTPException as StarletteHTTPException

from libcard.errors import LibcardError, NotFound, TooManyAttempts

log = logging.getLogger("libcard.web")
PROBLEM_TYPE = "urn:libcard:problem:{code}"


def problem(status: int, code: str, title: str, detail: str, **extra: Any) -> JSONResponse:
    body = {
        "type": PROBLEM_TYPE.format(code=code),
        "title": title,
        "status": status,
        "detail": detail,
        "code": code,
        **extra,
    }
    headers = {}
    if "retry_after_seconds" in extra:
        headers["Retry-After"] = str(extra["retry_after_seconds"])
    if status == 401:
        headers["WWW-Authenticate"] = 'Bearer realm="libcard"'
    return JSONResponse(
        body, status_code=status, media_type="application/problem+json", headers=headers
    )


def _json_safe(value: Any) -> Any:
    if isinstance(value, dict):
        return {str(k): _json_safe(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_json_safe(v) for v in value]
    if isinstance(value, str | int | float | bool) or value is None:
        return value
    return str(value)


HtmlErrorPage = Callable[[Request, LibcardError], Awaitable[Response]]


def _wants_page(request: Request) -> bool:
    """Pages outside the API (and Apple's pass web service) answer errors with a page a
    person can read."""
    path = request.url.path
    return not (path.startswith(("/api/", "/wallet/apple/")) or path == "/healthz")


def install(app: FastAPI, html: HtmlErrorPage | None = None) -> None:
    @app.exception_handler(LibcardError)
    async def _libcard(request: Request, error: LibcardError) -> Response:
        if html is not None and _wants_page(request):
            return await html(request, error)
        extra = _json_safe(error.details)
        if isinstance(error, TooManyAttempts):
            extra.setdefault("retry_after_seconds", 60)
        return problem(error.status, error.code, error.title, error.message, **extra)

    @app.exception_handler(RequestValidationError)
    async def _invalid(request: Request, error: RequestValidationError) -> Response:
        if html is not None and _wants_page(request):
            # Pages validate only ids in their paths: one out of range names nothing there.
            return await html(request, NotFound("not_found", "There is no such page."))
        errors = [
            {
                "where": ".".join(str(part) for part in item.get("loc", ())),
                "problem": item.get("msg", "invalid"),
            }
            for item in error.errors()
        ]
        first = errors[0] if errors else {"where": "request", "problem": "invalid"}
        return problem(
            422,
            "invalid_request",
            "Invalid request",
            f"{first['where']}: {first['problem']}",
            errors=errors,
        )

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, error: StarletteHTTPException) -> Response:
        codes = {404: "not_found", 405: "method_not_allowed", 413: "body_too_large"}
        code = codes.get(error.status_code, "http_error")
        if html is not None and _wants_page(request):
            page_error = LibcardError(code, str(error.detail))
            page_error.status = error.status_code
            return await html(request, page_error)
        response = problem(error.status_code, code, str(error.detail), str(error.detail))
        response.headers.update(error.headers or {})  # e.g. Allow on a 405
        return response

    @app.exception_handler(Exception)
    async def _crash(request: Request, error: Exception) -> Response:
        # Never a traceback to the client; the log has it, without request bodies (secrets).
        log.exception("unhandled error on %s %s", request.method, request.url.path)
        if html is not None and _wants_page(request):
            crash = LibcardError("internal_error", "Something went wrong on our side.")
            crash.status = 500
            return await html(request, crash)
        return problem(500, "internal_error", "Internal error", "Something went wrong on our side.")
