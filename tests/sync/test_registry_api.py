"""POST /api/v1/registry/runs through the real app: the registry's token, its institution,
the body as CSV or JSON Lines, the summary as JSON."""

from __future__ import annotations

from libcard.access.scopes import Scope
from libcard.context import ActorKind
from tests.api.conftest import API, Api, assert_problem, bearer
from tests.sync.helpers import count_students, csv_of, student

ANNA = "S1001;Anna;Berg;2004-05-17;anna@stud.nordby.example;Aarhus;"
CSV = {"content-type": "text/csv; charset=utf-8"}


async def _registry(api: Api, **kw: object) -> dict[str, str]:
    return await api.headers(ActorKind.REGISTRY, [Scope.REGISTRY], **kw)


async def test_a_run_creates_and_answers_the_summary(api: Api) -> None:
    headers = {**await _registry(api), **CSV}
    body = csv_of(ANNA, "S1002;Bo;;2003-01-02;bo@stud.nordby.example;Odense;")
    response = await api.client.post(f"{API}/registry/runs", content=body, headers=headers)
    assert response.status_code == 200, response.text
    summary = response.json()
    assert (summary["created"], summary["refused_count"]) == (1, 1)
    assert summary["refused"] == [
        {"line": 3, "code": "field_required", "message": "last_name is needed for a new student."}
    ]
    again = await api.client.post(
        f"{API}/registry/runs", params={"full": "true"}, content=body, headers=headers
    )
    assert again.json()["changes"] == 0


async def test_json_lines_and_a_dry_run(api: Api) -> None:
    headers = {**await _registry(api), "content-type": "application/x-ndjson"}
    body = '{"registry_id": "S1", "first_name": "Cai", "last_name": "Lund"}\n'
    response = await api.client.post(
        f"{API}/registry/runs", params={"dry_run": "true"}, content=body, headers=headers
    )
    assert response.status_code == 200, response.text
    assert (response.json()["created"], response.json()["dry_run"]) == (1, True)
    assert await count_students(api.world) == 0


async def test_another_scope_or_kind_is_refused(api: Api) -> None:
    body = csv_of(ANNA)
    items_only = {**await api.headers(ActorKind.REGISTRY, [Scope.ITEMS_WRITE]), **CSV}
    response = await api.client.post(f"{API}/registry/runs", content=body, headers=items_only)
    assert_problem(response, 403, "scope_missing")
    admin = {**await api.headers(ActorKind.ADMIN, [Scope.REGISTRY]), **CSV}
    response = await api.client.post(f"{API}/registry/runs", content=body, headers=admin)
    assert_problem(response, 403, "forbidden_registry")
    assert await student(api.world, "S1001") is None


async def test_another_institutions_registry_cannot_touch_these_students(api: Api) -> None:
    await api.client.post(
        f"{API}/registry/runs", content=csv_of(ANNA), headers={**await _registry(api), **CSV}
    )
    other = await api.other_institution()
    theirs = {
        **bearer(await api.token(ActorKind.REGISTRY, [Scope.REGISTRY], institution_id=other)),
        **CSV,
    }
    changed = csv_of("S1001;Anna;Stolen;2004-05-17;anna@stud.nordby.example;Aarhus;")
    response = await api.client.post(
        f"{API}/registry/runs",
        params={"institution_id": api.world.institution_id},
        content=changed,
        headers=theirs,
    )
    assert_problem(response, 403, "forbidden_registry")
    anna = await student(api.world, "S1001")
    assert anna is not None
    assert anna.last_name == "Berg"


async def test_bad_bodies_are_clear_errors(api: Api) -> None:
    headers = await _registry(api)
    response = await api.client.post(
        f"{API}/registry/runs",
        content="{}",
        headers={**headers, "content-type": "application/json"},
    )
    assert_problem(response, 415, "registry_media_type")
    response = await api.client.post(
        f"{API}/registry/runs", content="name;city\nx;y\n", headers={**headers, **CSV}
    )
    assert_problem(response, 422, "csv_header")
    response = await api.client.post(
        f"{API}/registry/runs",
        content=csv_of(ANNA).encode("utf-8") + b"S9;\xff\xfe;x;;;;\n",
        headers={**headers, **CSV},
    )
    assert_problem(response, 422, "registry_encoding")
    assert await count_students(api.world) == 0


async def test_the_route_is_in_the_openapi(api: Api) -> None:
    spec = (await api.client.get(f"{API}/openapi.json")).json()
    operation = spec["paths"]["/api/v1/registry/runs"]["post"]
    assert set(operation["requestBody"]["content"]) == {"text/csv", "application/x-ndjson"}
