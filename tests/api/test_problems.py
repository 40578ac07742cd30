"""Bad input never gives a 500: every refusal is an RFC 9457 problem with a stable code."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from libcard.cards.rules import make_card_number
from tests.api.conftest import API, Api, assert_problem

LIMIT = 64 * 1024
NEVER_ISSUED = make_card_number("2770", 999_999_999, 14)  # well-formed, check digit right


def _wrong_check_digit(number: str) -> str:
    return number[:-1] + str((int(number[-1]) + 1) % 10)


async def test_malformed_json_is_a_422_problem(api: Api) -> None:
    patron = await api.world.patron()
    response = await api.client.post(
        f"{API}/patrons/{patron.id}/fees",
        content=b'{"type": "overdue", "amount_minor": ',
        headers={**api.desk, "Content-Type": "application/json"},
    )
    body = assert_problem(response, 422, "invalid_request")
    assert body["errors"][0]["where"].startswith("body")


WRONG_TYPES = {
    "string-amount": {"type": "overdue", "amount_minor": "a lot", "description": "Late"},
    "float-amount": {"type": "overdue", "amount_minor": 12.5, "description": "Late"},
    "negative": {"type": "overdue", "amount_minor": -100, "description": "Late"},
    "zero": {"type": "overdue", "amount_minor": 0, "description": "Late"},
    "too-large": {"type": "overdue", "amount_minor": 10**12, "description": "Late"},
    "unknown-enum": {"type": "parking", "amount_minor": 100, "description": "Late"},
    "empty-text": {"type": "overdue", "amount_minor": 100, "description": ""},
    "blank-text": {"type": "overdue", "amount_minor": 100, "description": "   "},
    "missing-field": {"type": "overdue", "amount_minor": 100},
    "array-body": ["overdue", 100, "Late"],
    "string-body": "overdue",
    "null-body": None,
}


async def test_wrong_types_are_422_problems(api: Api, subtests: pytest.Subtests) -> None:
    patron = await api.world.patron()
    for name, payload in WRONG_TYPES.items():
        with subtests.test(msg=name):
            response = await api.client.post(
                f"{API}/patrons/{patron.id}/fees", json=payload, headers=api.desk
            )
            assert_problem(response, 422, "invalid_request")
    fees = (await api.client.get(f"{API}/patrons/{patron.id}/fees", headers=api.desk)).json()
    assert fees["fees"] == []


async def test_unknown_fields_are_refused(api: Api) -> None:
    patron = await api.world.patron()
    response = await api.client.patch(
        f"{API}/patrons/{patron.id}", json={"city": "Aarhus", "is_admin": True}, headers=api.desk
    )
    body = assert_problem(response, 422, "invalid_request")
    assert any("is_admin" in e["where"] for e in body["errors"])
    # Nothing of the refused request was applied.
    patron_now = (await api.client.get(f"{API}/patrons/{patron.id}", headers=api.desk)).json()
    assert patron_now["city"] is None


async def test_a_wrong_check_digit_is_named(api: Api) -> None:
    patron = await api.world.patron()
    bad = _wrong_check_digit(patron.ecard)
    response = await api.client.get(f"{API}/cards/{bad}/status", headers=api.admin)
    assert_problem(response, 422, "card_number_check_digit")
    response = await api.client.post(f"{API}/cards/status", json={"number": bad}, headers=api.admin)
    assert_problem(response, 422, "card_number_check_digit")


async def test_a_malformed_card_number_is_422(api: Api) -> None:
    response = await api.client.get(f"{API}/cards/ab%21cd/status", headers=api.admin)
    assert_problem(response, 422, "card_number_format")


UNKNOWN = [
    ("GET", "/patrons/999999", "patron_not_found"),
    ("GET", "/patrons/999999/fees", "patron_not_found"),
    ("GET", "/patrons/999999/blocks", "patron_not_found"),
    ("GET", "/patrons/999999/cards", "patron_not_found"),
    ("PATCH", "/patrons/999999", "patron_not_found"),
    ("GET", f"/cards/{NEVER_ISSUED}/status", "card_not_found"),
    ("GET", f"/cards/{NEVER_ISSUED}", "card_not_found"),
    ("POST", f"/cards/{NEVER_ISSUED}/report-lost", "card_not_found"),
    ("GET", "/institutions/999999", "institution_not_found"),
    ("GET", "/groups/999999", "group_not_found"),
    ("POST", "/fees/999999/waive", "fee_not_found"),
    ("POST", "/fees/999999/refund", "fee_not_found"),
    ("POST", "/blocks/999999/lift", "block_not_found"),
    ("DELETE", "/tokens/999999", "token_not_found"),
]


async def test_unknown_ids_are_404_problems(api: Api, subtests: pytest.Subtests) -> None:
    for method, path, code in UNKNOWN:
        with subtests.test(msg=f"{method} {path}"):
            body: dict[str, str] | None = None
            if method == "PATCH":
                body = {"city": "Aarhus"}
            elif path.endswith(("waive", "refund")):
                body = {"reason": "test"}
            elif path.endswith("lift"):
                body = {}
            response = await api.client.request(
                method, f"{API}{path}", json=body, headers=api.admin
            )
            assert_problem(response, 404, code)


async def test_an_id_no_database_can_hold_is_422_not_a_crash(
    api: Api, subtests: pytest.Subtests
) -> None:
    """Found by fuzzing: 2**63 in a path crashed the SQLite driver (OverflowError, a 500)."""
    for bad_id in (2**31, 2**63, -(2**63) - 1, 0, -1, "1.5", "abc"):
        for method, path in (
            ("GET", f"/patrons/{bad_id}"),
            ("GET", f"/institutions/{bad_id}/patrons"),
            ("GET", f"/groups/{bad_id}"),
            ("POST", f"/fees/{bad_id}/waive"),
            ("DELETE", f"/tokens/{bad_id}"),
        ):
            with subtests.test(msg=f"{method} {path}"):
                body = {"reason": "x"} if method == "POST" else None
                response = await api.client.request(
                    method, f"{API}{path}", json=body, headers=api.admin
                )
                assert_problem(response, 422, "invalid_request")
        with subtests.test(msg=f"audit before_id={bad_id}"):
            response = await api.client.get(
                f"{API}/audit", params={"before_id": str(bad_id)}, headers=api.admin
            )
            assert_problem(response, 422, "invalid_request")


async def test_the_largest_id_is_merely_not_found(api: Api) -> None:
    response = await api.client.get(f"{API}/patrons/{2**31 - 1}", headers=api.admin)
    assert_problem(response, 404, "patron_not_found")


async def test_a_declared_oversized_body_is_413(api: Api) -> None:
    patron = await api.world.patron()
    response = await api.client.patch(
        f"{API}/patrons/{patron.id}",
        content=b'{"city": "' + b"x" * (LIMIT + 10) + b'"}',
        headers={**api.desk, "Content-Type": "application/json"},
    )
    assert_problem(response, 413, "body_too_large")
    assert response.headers["x-content-type-options"] == "nosniff"


async def test_a_streamed_oversized_body_is_413(api: Api) -> None:
    patron = await api.world.patron()

    async def chunks() -> AsyncIterator[bytes]:
        yield b'{"city": "'
        for _ in range(20):
            yield b"x" * 8192
        yield b'"}'

    response = await api.client.patch(
        f"{API}/patrons/{patron.id}",
        content=chunks(),
        headers={**api.desk, "Content-Type": "application/json"},
    )
    assert "content-length" not in response.request.headers
    assert response.request.headers["transfer-encoding"] == "chunked"
    assert_problem(response, 413, "body_too_large")


async def test_a_body_just_under_the_limit_is_read(api: Api) -> None:
    patron = await api.world.patron()
    filler = " " * (LIMIT - 100)
    response = await api.client.patch(
        f"{API}/patrons/{patron.id}",
        content=('{"city": "Aarhus"' + filler + "}").encode(),
        headers={**api.desk, "Content-Type": "application/json"},
    )
    assert response.status_code == 200, response.text
    assert response.json()["city"] == "Aarhus"


async def test_a_non_numeric_content_length_is_refused(api: Api) -> None:
    request = api.client.build_request(
        "POST", f"{API}/cards/status", json={"number": "1"}, headers=api.admin
    )
    request.headers["Content-Length"] = "abc"
    response = await api.client.send(request)
    assert_problem(response, 413, "body_too_large")


async def test_an_unknown_route_is_a_404_problem(api: Api) -> None:
    response = await api.client.get(f"{API}/no-such-thing", headers=api.admin)
    assert_problem(response, 404, "not_found")


async def test_an_unknown_page_outside_the_api_is_a_404_page_for_people(api: Api) -> None:
    response = await api.client.get("/nowhere", headers={"accept-language": "en"})
    assert response.status_code == 404
    assert response.headers["content-type"].startswith("text/html")
    assert "Something went wrong" in response.text


async def test_a_wrong_method_is_a_405_problem(api: Api) -> None:
    response = await api.client.delete(f"{API}/institutions", headers=api.admin)
    assert_problem(response, 405, "method_not_allowed")
    assert "GET" in response.headers.get("allow", "")


async def test_security_headers_on_every_response(api: Api, subtests: pytest.Subtests) -> None:
    for path in (f"{API}/institutions", f"{API}/nowhere", "/healthz", f"{API}/openapi.json"):
        with subtests.test(msg=path):
            response = await api.client.get(path, headers=api.admin)
            assert response.headers["x-content-type-options"] == "nosniff"
            assert "default-src 'none'" in response.headers["content-security-policy"]
            assert "frame-ancestors 'none'" in response.headers["content-security-policy"]
            assert response.headers["x-frame-options"] == "DENY"
            assert response.headers["referrer-policy"] == "no-referrer"
            assert response.headers["cache-control"] == "no-store"


async def test_security_headers_on_errors(api: Api) -> None:
    response = await api.client.get(f"{API}/institutions")
    assert response.status_code == 401
    assert response.headers["x-content-type-options"] == "nosniff"
    assert "content-security-policy" in response.headers


async def test_non_json_content_type_is_a_problem(api: Api) -> None:
    response = await api.client.post(
        f"{API}/cards/status",
        content=b"number=123",
        headers={**api.admin, "Content-Type": "application/x-www-form-urlencoded"},
    )
    assert_problem(response, 422, "invalid_request")


async def test_invalid_utf8_body_is_a_problem(api: Api) -> None:
    response = await api.client.post(
        f"{API}/cards/status",
        content=b'{"number": "\xff\xfe"}',
        headers={**api.admin, "Content-Type": "application/json"},
    )
    assert response.status_code in (400, 422), response.text
    assert response.headers["content-type"].startswith("application/problem+json")


async def test_nul_bytes_in_a_card_number_are_refused(api: Api) -> None:
    response = await api.client.post(
        f"{API}/cards/status", json={"number": "2770\x000001"}, headers=api.admin
    )
    assert_problem(response, 422, "card_number_format")


async def test_query_parameter_out_of_range_is_422(api: Api) -> None:
    response = await api.client.get(
        f"{API}/institutions/{api.world.institution_id}/patrons",
        params={"limit": 100000},
        headers=api.admin,
    )
    assert_problem(response, 422, "invalid_request")
    response = await api.client.get(
        f"{API}/institutions/{api.world.institution_id}/patrons",
        params={"birth_date": "not-a-date"},
        headers=api.admin,
    )
    assert_problem(response, 422, "invalid_request")
