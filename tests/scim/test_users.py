"""The SCIM service as the staff identity portal uses it: employees created, changed,
deactivated and found; ETags; tokens; errors as SCIM error documents."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from libcard.access.scopes import Scope
from libcard.cards.models import Card
from libcard.context import Actor, ActorKind
from libcard.errors import Forbidden
from libcard.notify.models import OutboundMail
from libcard.patrons.models import Patron
from libcard.patrons.service import update_patron
from libcard.policy.models import PatronGroup
from tests.scim.conftest import (
    ERROR_SCHEMA,
    PATCH_SCHEMA,
    SCIM,
    Scim,
    employee,
    make_token,
    other_institution,
)


def patch(*operations: dict[str, object]) -> dict[str, object]:
    return {"schemas": [PATCH_SCHEMA], "Operations": list(operations)}


async def test_a_new_employee_becomes_a_patron_with_an_ecard_and_an_activation_mail(
    scim: Scim,
) -> None:
    created = await scim.create(
        employee("Anna.Berg@Uni.example", phoneNumbers=[{"value": "+45 1234"}])
    )
    assert created["userName"] == "anna.berg@uni.example"
    assert created["active"] is True
    assert created["meta"]["location"].endswith(f"/scim/v2/Users/{created['id']}")
    async with scim.runtime.unit() as ctx:
        patron = await ctx.session.get(Patron, int(created["id"]))
        assert patron is not None
        group = await ctx.session.get(PatronGroup, patron.group_id)
        assert group is not None
        assert group.code == "employee"
        assert patron.institutional_email == "anna.berg@uni.example"
        assert patron.identity_id == "emp-Anna.Berg"
        assert patron.phone == "+45 1234"
        cards = (await ctx.session.scalars(select(Card).where(Card.patron_id == patron.id))).all()
        assert [card.kind for card in cards] == ["ecard"]
        mails = (
            await ctx.session.scalars(
                select(OutboundMail).where(OutboundMail.patron_id == patron.id)
            )
        ).all()
        assert [mail.template for mail in mails] == ["activation_code"]


async def test_patch_changes_the_name_and_the_portal_still_cannot(scim: Scim) -> None:
    created = await scim.create()
    response = await scim.client.patch(
        f"{SCIM}/Users/{created['id']}",
        json=patch({"op": "replace", "path": "name.familyName", "value": "Lund"}),
        headers=scim.auth,
    )
    assert response.status_code in (200, 204), response.text
    read = (await scim.client.get(f"{SCIM}/Users/{created['id']}", headers=scim.auth)).json()
    assert read["name"] == {"givenName": "Anna", "familyName": "Lund"}
    assert read["displayName"] == "Anna Lund"
    # The employee (or the desk) cannot change what the identity portal owns (R8, R9).
    patron_id = int(created["id"])
    for actor in (
        Actor(
            ActorKind.PATRON,
            "employee",
            institution_id=scim.world.institution_id,
            patron_id=patron_id,
        ),
        Actor(ActorKind.DESK, "desk", institution_id=scim.world.institution_id),
    ):
        with pytest.raises(Forbidden) as refused:
            async with scim.runtime.unit(actor) as ctx:
                await update_patron(ctx, patron_id, {"last_name": "Other"})
        assert refused.value.code == "field_not_yours"


async def test_delete_and_active_false_expire_and_never_delete(scim: Scim) -> None:
    first = await scim.create(employee("a@uni.example"))
    second = await scim.create(employee("b@uni.example"))
    deleted = await scim.client.delete(f"{SCIM}/Users/{first['id']}", headers=scim.auth)
    assert deleted.status_code == 204
    deactivated = await scim.client.patch(
        f"{SCIM}/Users/{second['id']}",
        json=patch({"op": "replace", "path": "active", "value": False}),
        headers=scim.auth,
    )
    assert deactivated.status_code in (200, 204), deactivated.text
    now = scim.runtime.clock.now()
    async with scim.runtime.unit() as ctx:
        for user in (first, second):
            patron = await ctx.session.get(Patron, int(user["id"]))
            assert patron is not None
            assert patron.expires_at == now
    read = (await scim.client.get(f"{SCIM}/Users/{first['id']}", headers=scim.auth)).json()
    assert read["active"] is False
    # And back: the portal may reinstate an employee it deactivated.
    back = await scim.client.patch(
        f"{SCIM}/Users/{first['id']}",
        json=patch({"op": "replace", "path": "active", "value": True}),
        headers=scim.auth,
    )
    assert back.status_code in (200, 204)
    async with scim.runtime.unit() as ctx:
        patron = await ctx.session.get(Patron, int(first["id"]))
        assert patron is not None
        assert patron.expires_at is None


async def test_filters_find_employees_by_user_name_external_id_and_email(scim: Scim) -> None:
    await scim.create(employee("anna.berg@uni.example"))
    await scim.create(employee("bo.dahl@uni.example"))
    await scim.create(employee("bodil.eng@other.example"))
    # Externals are not the identity portal's: never listed.
    await scim.world.patron("external", email="bo.external@uni.example")

    async def names(expression: str | None, **params: str) -> list[str]:
        query = {**params, **({"filter": expression} if expression else {})}
        response = await scim.client.get(f"{SCIM}/Users", params=query, headers=scim.auth)
        assert response.status_code == 200, response.text
        return sorted(user["userName"] for user in response.json().get("Resources", []))

    assert await names('userName eq "ANNA.BERG@uni.example"') == ["anna.berg@uni.example"]
    assert await names('externalId eq "emp-bo.dahl"') == ["bo.dahl@uni.example"]
    assert await names('userName sw "bo"') == ["bo.dahl@uni.example", "bodil.eng@other.example"]
    assert await names('emails.value co "other"') == ["bodil.eng@other.example"]
    assert await names('emails[type eq "work" and value co "uni"]') == [
        "anna.berg@uni.example",
        "bo.dahl@uni.example",
    ]
    assert len(await names(None)) == 3
    page = await scim.client.get(
        f"{SCIM}/Users",
        params={"startIndex": "2", "count": "1", "sortBy": "userName"},
        headers=scim.auth,
    )
    body = page.json()
    assert body["totalResults"] == 3
    assert body["startIndex"] == 2
    assert [u["userName"] for u in body["Resources"]] == ["bo.dahl@uni.example"]
    bad = await scim.client.get(
        f"{SCIM}/Users", params={"filter": "userName eq"}, headers=scim.auth
    )
    assert bad.status_code == 400
    assert bad.json()["scimType"] == "invalidFilter"


async def test_etags_and_if_match(scim: Scim) -> None:
    created = await scim.create()
    url = f"{SCIM}/Users/{created['id']}"
    read = await scim.client.get(url, headers=scim.auth)
    etag = read.headers["etag"]
    assert etag == created["meta"]["version"]
    assert etag.startswith('W/"')
    unchanged = await scim.client.get(url, headers={**scim.auth, "If-None-Match": etag})
    assert unchanged.status_code == 304
    body = patch({"op": "replace", "path": "name.givenName", "value": "Anne"})
    changed = await scim.client.patch(url, json=body, headers={**scim.auth, "If-Match": etag})
    assert changed.status_code in (200, 204)
    assert changed.headers["etag"] != etag
    stale = await scim.client.patch(url, json=body, headers={**scim.auth, "If-Match": etag})
    assert stale.status_code == 412
    assert stale.json()["schemas"] == [ERROR_SCHEMA]
    stale_delete = await scim.client.delete(url, headers={**scim.auth, "If-Match": etag})
    assert stale_delete.status_code == 412
    read = (await scim.client.get(url, headers=scim.auth)).json()
    assert read["active"] is True
    assert read["name"]["givenName"] == "Anne"


async def test_another_institutions_token_sees_nothing(scim: Scim) -> None:
    created = await scim.create()
    other = await other_institution(scim.runtime)
    theirs = {"Authorization": f"Bearer {await make_token(scim.runtime, other)}"}
    listed = await scim.client.get(f"{SCIM}/Users", headers=theirs)
    assert listed.status_code == 200
    assert listed.json()["totalResults"] == 0
    for response in (
        await scim.client.get(f"{SCIM}/Users/{created['id']}", headers=theirs),
        await scim.client.delete(f"{SCIM}/Users/{created['id']}", headers=theirs),
        await scim.client.patch(
            f"{SCIM}/Users/{created['id']}",
            json=patch({"op": "replace", "path": "active", "value": False}),
            headers=theirs,
        ),
    ):
        assert response.status_code == 404
        assert response.json()["schemas"] == [ERROR_SCHEMA]
    # The same e-mail is free in the other institution: each has its own employees.
    assert (
        await scim.client.post(f"{SCIM}/Users", json=employee(), headers=theirs)
    ).status_code == 201
    read = (await scim.client.get(f"{SCIM}/Users/{created['id']}", headers=scim.auth)).json()
    assert read["active"] is True


async def test_missing_wrong_or_unfit_tokens_are_refused(scim: Scim) -> None:
    for headers in ({}, {"Authorization": "Bearer lct_nothing"}, {"Authorization": "Basic eDp5"}):
        for path in ("/Users", "/ServiceProviderConfig", "/Schemas", "/ResourceTypes"):
            response = await scim.client.get(f"{SCIM}{path}", headers=headers)
            assert response.status_code == 401, path
            assert response.json()["schemas"] == [ERROR_SCHEMA]
            assert response.headers["www-authenticate"].startswith("Bearer")
    world = scim.world.institution_id
    for token in (
        await make_token(scim.runtime, world, scopes=(Scope.PATRONS_WRITE,)),  # not scim
        await make_token(scim.runtime, world, kind=ActorKind.ADMIN),  # not the portal
        # An administrator's token of every institution: which one's employees?
        await make_token(scim.runtime, None, kind=ActorKind.ADMIN, scopes=(Scope.SCIM,)),
    ):
        response = await scim.client.get(
            f"{SCIM}/Users", headers={"Authorization": f"Bearer {token}"}
        )
        assert response.status_code == 403
        assert response.json()["schemas"] == [ERROR_SCHEMA]


async def test_malformed_and_refused_bodies_are_400_with_a_scim_type(scim: Scim) -> None:
    post = f"{SCIM}/Users"
    headers = {**scim.auth, "Content-Type": "application/scim+json"}

    async def refused(body: bytes | dict[str, object], status: int = 400) -> str:
        if isinstance(body, bytes):
            response = await scim.client.post(post, content=body, headers=headers)
        else:
            response = await scim.client.post(post, json=body, headers=headers)
        assert response.status_code == status, response.text
        error = response.json()
        assert error["schemas"] == [ERROR_SCHEMA]
        return str(error.get("scimType"))

    assert await refused(b"{not json") == "invalidSyntax"
    assert await refused(b'["a list"]') in ("invalidSyntax", "invalidValue")
    assert await refused(employee("not-an-address")) == "invalidValue"
    no_name = employee()
    del no_name["name"]
    assert await refused(no_name) in ("invalidValue", "invalidSyntax")
    assert await refused(employee(phoneNumbers=[{"value": "1"}, {"value": "2"}])) == "invalidValue"
    assert await refused(employee(addresses=[{"country": "Denmark"}])) == "invalidValue"
    await scim.create()
    assert await refused(employee(), status=409) == "uniqueness"
    created = await scim.create(employee("c@uni.example"))
    clash = await scim.client.patch(
        f"{SCIM}/Users/{created['id']}",
        json=patch({"op": "replace", "path": "userName", "value": "anna.berg@uni.example"}),
        headers=scim.auth,
    )
    assert clash.status_code == 409
    assert clash.json()["scimType"] == "uniqueness"


async def test_a_field_the_policy_gives_the_employee_is_not_the_portals(scim: Scim) -> None:
    """Field ownership is policy: with the phone the employee's own, the portal may not set it."""
    async with scim.runtime.unit() as ctx:
        group = await ctx.session.get(PatronGroup, scim.world.groups["employee"])
        assert group is not None
        group.field_owners = {**group.field_owners, "phone": "patron"}
    response = await scim.client.post(
        f"{SCIM}/Users", json=employee(phoneNumbers=[{"value": "+45 1234"}]), headers=scim.auth
    )
    assert response.status_code == 400
    assert response.json()["scimType"] == "mutability"
    assert (
        await scim.client.post(f"{SCIM}/Users", json=employee(), headers=scim.auth)
    ).status_code == 201


async def test_discovery_describes_what_libcard_keeps(scim: Scim) -> None:
    config = (await scim.client.get(f"{SCIM}/ServiceProviderConfig", headers=scim.auth)).json()
    assert config["patch"]["supported"]
    assert config["etag"]["supported"]
    assert config["filter"]["supported"]
    assert not config["bulk"]["supported"]
    types = (await scim.client.get(f"{SCIM}/ResourceTypes", headers=scim.auth)).json()
    assert [t["endpoint"] for t in types["Resources"]] == ["/Users"]
    schemas = (await scim.client.get(f"{SCIM}/Schemas", headers=scim.auth)).json()
    (user,) = schemas["Resources"]
    assert {a["name"] for a in user["attributes"]} >= {"userName", "name", "emails", "active"}
