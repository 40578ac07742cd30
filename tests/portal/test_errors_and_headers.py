"""Error pages and security headers: a person who mistypes an address gets a page, an
integration gets a problem document; every portal page forbids framing and inline scripts."""

from __future__ import annotations

import httpx
import pytest

from libcard.kit.i18n import translate
from tests.portal.conftest import Portal, html_lang

PAGES_LOGGED_OUT = ["/login", "/activate", "/forgot-password", "/reset-password/abc"]
PAGES_LOGGED_IN = ["/card", "/overview", "/my-data", "/password", "/pin", "/lost-card"]


async def test_an_unknown_page_answers_a_readable_404(portal: Portal) -> None:
    browser = await portal.browser(**{"accept-language": "de"})
    response = await browser.get("/no-such-page")
    assert response.status_code == 404
    assert response.headers["content-type"].startswith("text/html")
    assert response.text.lstrip().lower().startswith("<!doctype html>")
    assert html_lang(response.text) == "de"
    assert translate("de", "Something went wrong") in response.text
    assert 'href="/"' in response.text


async def test_an_unknown_page_sets_no_cookie(portal: Portal) -> None:
    response = await portal.client.get("/favicon.ico")
    assert response.status_code == 404
    assert "set-cookie" not in response.headers


async def test_an_unknown_api_path_still_answers_a_problem_document(portal: Portal) -> None:
    response = await portal.client.get("/api/v1/unknown")
    assert response.status_code == 404
    assert response.headers["content-type"].startswith("application/problem+json")
    body = response.json()
    assert body["status"] == 404
    assert body["code"] == "not_found"


async def test_a_wrong_method_on_a_page_answers_a_page(portal: Portal) -> None:
    response = await portal.client.put("/login")
    assert response.status_code == 405
    assert response.headers["content-type"].startswith("text/html")


def _assert_secure_headers(headers: httpx.Headers, path: str) -> None:
    csp = headers["content-security-policy"]
    directives = {
        part.strip().split()[0]: part.strip().split()[1:] for part in csp.split(";") if part.strip()
    }
    scripts = directives.get("script-src", directives.get("default-src"))
    assert scripts is not None, csp
    assert "'unsafe-inline'" not in scripts, (path, csp)
    assert "'unsafe-eval'" not in scripts, (path, csp)
    assert directives.get("frame-ancestors") == ["'none'"], (path, csp)
    assert headers["x-frame-options"] == "DENY", path
    assert headers["x-content-type-options"] == "nosniff", path
    assert headers["cache-control"] == "no-store", path


@pytest.mark.parametrize("path", [*PAGES_LOGGED_OUT, "/no-such-page"])
async def test_pages_before_login_carry_the_security_headers(portal: Portal, path: str) -> None:
    response = await portal.client.get(path)
    _assert_secure_headers(response.headers, path)


async def test_logged_in_pages_carry_the_security_headers(portal: Portal) -> None:
    client = await portal.logged_in(await portal.patron())
    for path in PAGES_LOGGED_IN:
        response = await client.get(path)
        assert response.status_code == 200, path
        _assert_secure_headers(response.headers, path)
        # The pages need no script at all: nothing inline that the CSP would have to allow.
        assert "<script" not in response.text.lower(), path
        assert " onclick=" not in response.text.lower(), path


async def test_redirects_carry_the_security_headers(portal: Portal) -> None:
    response = await portal.client.get("/card")
    assert response.status_code == 303
    _assert_secure_headers(response.headers, "/card")
