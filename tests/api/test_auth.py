"""Who may ask what: bearer tokens, scopes, patron-scoped tokens and institution boundaries."""

from __future__ import annotations

from datetime import timedelta

import pytest

from libcard.access.models import ApiToken
from libcard.access.scopes import Scope
from libcard.context import ActorKind
from tests.api.conftest import API, Api, assert_problem, bearer


async def test_no_token_is_401_token_required(api: Api) -> None:
    patron = await api.world.patron()
    response = await api.client.get(f"{API}/cards/{patron.ecard}/status")
    body = assert_problem(response, 401, "token_required")
    assert response.headers["www-authenticate"].startswith("Bearer")
    assert "Bearer" in body["detail"]


async def test_a_non_bearer_authorization_counts_as_no_token(api: Api) -> None:
    response = await api.client.get(
        f"{API}/institutions", headers={"Authorization": "Basic YWRtaW46YWRtaW4="}
    )
    assert_problem(response, 401, "token_required")
    assert "www-authenticate" in response.headers


async def test_an_unknown_token_is_401(api: Api, subtests: pytest.Subtests) -> None:
    for secret in ("lct_not-a-real-token", "x", "lct_" + "A" * 43, "ünïcødé-tøken"):
        with subtests.test(msg=secret):
            response = await api.client.get(
                f"{API}/institutions", headers={"Authorization": f"Bearer {secret}".encode()}
            )
            assert_problem(response, 401, "invalid_token")
            assert response.headers["www-authenticate"].startswith("Bearer")


async def test_a_revoked_token_is_401(api: Api) -> None:
    made = await api.client.post(
        f"{API}/tokens",
        json={
            "name": "to revoke",
            "actor_kind": "desk",
            "scopes": ["policy:read"],
            "institution_id": api.world.institution_id,
        },
        headers=api.admin,
    )
    assert made.status_code == 201, made.text
    token = made.json()
    assert token["secret"].startswith("lct_")
    assert token["institution_id"] == api.world.institution_id
    ok = await api.client.get(f"{API}/institutions", headers=bearer(token["secret"]))
    assert ok.status_code == 200

    revoked = await api.client.delete(f"{API}/tokens/{token['id']}", headers=api.admin)
    assert revoked.status_code == 200, revoked.text
    assert revoked.json()["secret"] is None
    response = await api.client.get(f"{API}/institutions", headers=bearer(token["secret"]))
    assert_problem(response, 401, "invalid_token")


async def test_an_expired_token_is_401(api: Api) -> None:
    secret = await api.token(ActorKind.DESK, [Scope.POLICY_READ], valid_days=1)
    assert (await api.client.get(f"{API}/institutions", headers=bearer(secret))).status_code == 200
    api.clock.advance(timedelta(days=1))
    response = await api.client.get(f"{API}/institutions", headers=bearer(secret))
    assert_problem(response, 401, "invalid_token")


async def test_a_token_without_the_scope_is_403_scope_missing(api: Api) -> None:
    patron = await api.world.patron()
    headers = await api.headers(ActorKind.SERVICE, [Scope.CARDS_STATUS])
    assert (
        await api.client.get(f"{API}/cards/{patron.ecard}/status", headers=headers)
    ).status_code == 200
    response = await api.client.get(f"{API}/patrons/{patron.id}", headers=headers)
    body = assert_problem(response, 403, "scope_missing")
    assert body["scope"] == "patrons:read"
    response = await api.client.post(
        f"{API}/patrons/{patron.id}/fees",
        json={"type": "overdue", "amount_minor": 100, "description": "Late"},
        headers=headers,
    )
    assert_problem(response, 403, "scope_missing")


async def test_a_refused_request_changes_nothing(api: Api) -> None:
    patron = await api.world.patron()
    headers = await api.headers(ActorKind.DESK, [Scope.FEES_READ])
    response = await api.client.post(
        f"{API}/patrons/{patron.id}/fees",
        json={"type": "overdue", "amount_minor": 100, "description": "Late"},
        headers=headers,
    )
    assert_problem(response, 403, "scope_missing")
    fees = (await api.client.get(f"{API}/patrons/{patron.id}/fees", headers=headers)).json()
    assert fees["fees"] == []
    assert fees["balance"]["amount_minor"] == 0


async def test_a_patron_token_sees_only_its_patron(api: Api) -> None:
    mine = await api.world.patron()
    other = await api.world.patron()
    headers = await api.headers(
        ActorKind.PATRON,
        [Scope.PATRONS_READ, Scope.CARDS_STATUS, Scope.FEES_READ, Scope.CARDS_READ],
        patron_id=mine.id,
    )
    response = await api.client.get(f"{API}/patrons/{mine.id}", headers=headers)
    assert response.status_code == 200, response.text
    assert response.json()["id"] == mine.id
    status = await api.client.get(f"{API}/cards/{mine.ecard}/status", headers=headers)
    assert status.status_code == 200
    assert status.json()["patron"]["id"] == mine.id

    # Another patron is "not found", not "forbidden": ids are not to be probed.
    assert_problem(
        await api.client.get(f"{API}/patrons/{other.id}", headers=headers),
        404,
        "patron_not_found",
    )
    assert_problem(
        await api.client.get(f"{API}/cards/{other.ecard}/status", headers=headers),
        404,
        "card_not_found",
    )
    assert_problem(
        await api.client.post(f"{API}/cards/status", json={"number": other.ecard}, headers=headers),
        404,
        "card_not_found",
    )
    assert_problem(
        await api.client.get(f"{API}/patrons/{other.id}/fees", headers=headers),
        404,
        "patron_not_found",
    )
    assert_problem(
        await api.client.get(f"{API}/cards/{other.ecard}", headers=headers),
        404,
        "card_not_found",
    )


async def test_a_patron_token_cannot_search_patrons(api: Api) -> None:
    mine = await api.world.patron()
    headers = await api.headers(ActorKind.PATRON, [Scope.PATRONS_READ], patron_id=mine.id)
    response = await api.client.get(
        f"{API}/institutions/{api.world.institution_id}/patrons", headers=headers
    )
    assert_problem(response, 403, "forbidden_search")


async def test_an_institution_token_never_sees_another_institution(api: Api) -> None:
    from libcard.accounts.service import register_patron

    theirs_institution = await api.other_institution()
    async with api.runtime.unit() as ctx:
        registration = await register_patron(
            ctx,
            theirs_institution,
            "external",
            {"first_name": "Else", "last_name": "Sydby", "email": "else@example.org"},
        )
        theirs, their_card = registration.patron.id, registration.ecard.number
    assert their_card is not None

    for headers in (api.admin, api.desk):
        assert_problem(
            await api.client.get(f"{API}/patrons/{theirs}", headers=headers),
            404,
            "patron_not_found",
        )
        assert_problem(
            await api.client.get(f"{API}/cards/{their_card}/status", headers=headers),
            404,
            "card_not_found",
        )
        assert_problem(
            await api.client.get(
                f"{API}/institutions/{theirs_institution}/patrons", headers=headers
            ),
            404,
            "institution_not_found",
        )
        assert_problem(
            await api.client.patch(
                f"{API}/patrons/{theirs}", json={"city": "Aarhus"}, headers=headers
            ),
            404,
            "patron_not_found",
        )
        assert_problem(
            await api.client.post(
                f"{API}/patrons/{theirs}/fees",
                json={"type": "overdue", "amount_minor": 100, "description": "Late"},
                headers=headers,
            ),
            404,
            "patron_not_found",
        )
        listed = await api.client.get(f"{API}/institutions", headers=headers)
        assert [i["id"] for i in listed.json()] == [api.world.institution_id]

    # A deployment-wide admin token sees both institutions.
    everywhere = await api.headers(ActorKind.ADMIN, institution_id=None)
    response = await api.client.get(f"{API}/patrons/{theirs}", headers=everywhere)
    assert response.status_code == 200
    listed = await api.client.get(f"{API}/institutions", headers=everywhere)
    assert {i["id"] for i in listed.json()} == {api.world.institution_id, theirs_institution}


async def test_an_institution_admin_cannot_mint_tokens_elsewhere(api: Api) -> None:
    theirs = await api.other_institution()
    response = await api.client.post(
        f"{API}/tokens",
        json={
            "name": "sneaky",
            "actor_kind": "admin",
            "scopes": ["patrons:read"],
            "institution_id": theirs,
        },
        headers=api.admin,
    )
    assert_problem(response, 403, "forbidden_institution")


async def test_a_desk_token_cannot_mint_tokens(api: Api) -> None:
    response = await api.client.post(
        f"{API}/tokens",
        json={"name": "x", "actor_kind": "desk", "scopes": ["patrons:read"]},
        headers=api.desk,
    )
    assert_problem(response, 403, "forbidden_tokens")


TOKEN_REFUSALS: list[tuple[dict[str, object], int, str]] = [
    ({"institution_id": 999_999}, 404, "institution_not_found"),
    ({"patron_id": 999_999}, 404, "patron_not_found"),
    ({"institution_id": 2**40}, 422, "invalid_request"),
    ({"actor_kind": "system"}, 422, "token_actor"),
    ({"actor_kind": "patron"}, 422, "token_actor"),
    ({"actor_kind": "wizard"}, 422, "invalid_request"),
    ({"scopes": []}, 422, "invalid_request"),
    ({"scopes": ["root"]}, 422, "invalid_request"),
    ({"valid_days": 0}, 422, "invalid_request"),
]


async def test_token_creation_refusals(api: Api, subtests: pytest.Subtests) -> None:
    everywhere = await api.headers(ActorKind.ADMIN, institution_id=None)
    for payload, status, code in TOKEN_REFUSALS:
        with subtests.test(msg=str(payload)):
            body = {"name": "t", "actor_kind": "desk", "scopes": ["patrons:read"], **payload}
            response = await api.client.post(f"{API}/tokens", json=body, headers=everywhere)
            assert_problem(response, status, code)


async def test_a_patron_token_for_a_patron_of_another_institution_is_refused(api: Api) -> None:
    patron = await api.world.patron()
    theirs = await api.other_institution()
    everywhere = await api.headers(ActorKind.ADMIN, institution_id=None)
    response = await api.client.post(
        f"{API}/tokens",
        json={
            "name": "mixed",
            "actor_kind": "patron",
            "scopes": ["patrons:read"],
            "institution_id": theirs,
            "patron_id": patron.id,
        },
        headers=everywhere,
    )
    assert_problem(response, 422, "token_patron")


async def test_auth_problem_bodies_carry_no_secrets(api: Api) -> None:
    secret = "lct_definitely-not-valid-but-secret-looking"
    response = await api.client.get(f"{API}/institutions", headers=bearer(secret))
    assert secret not in response.text


async def test_a_tokens_last_use_is_recorded_at_most_hourly(api: Api) -> None:
    made = await api.client.post(
        f"{API}/tokens",
        json={
            "name": "catalogue",
            "actor_kind": "service",
            "scopes": ["policy:read"],
            "institution_id": api.world.institution_id,
        },
        headers=api.admin,
    )
    token = made.json()

    async def last_used() -> object:
        async with api.runtime.unit(readonly=True) as ctx:
            row = await ctx.session.get(ApiToken, token["id"])
            assert row is not None
            return row.last_used_at

    assert await last_used() is None
    await api.client.get(f"{API}/institutions", headers=bearer(token["secret"]))
    first = await last_used()
    assert first == api.clock.now()
    api.clock.advance(timedelta(minutes=30))
    await api.client.get(f"{API}/institutions", headers=bearer(token["secret"]))
    assert await last_used() == first
    api.clock.advance(timedelta(minutes=31))
    await api.client.get(f"{API}/institutions", headers=bearer(token["secret"]))
    assert await last_used() == api.clock.now()
