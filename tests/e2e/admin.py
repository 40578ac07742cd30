"""The library's side of the end-to-end tests: patrons, cards and fees set up through the JSON
API with an admin token, as an integration or the desk would."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Any

import httpx

INSTITUTION = "nordby"  # the code of the one institution set_up_library makes
PASSWORD = "Quiet-Harbour-Lantern-58"
PIN = "4826"


@dataclass
class Patron:
    id: int
    group: str
    first_name: str
    last_name: str
    email: str | None
    ecard: str
    password: str = PASSWORD
    pin: str = PIN
    physical: str | None = None
    physical_id: int | None = None
    ecard_id: int | None = None
    code: str | None = None  # the activation code while the account is not activated

    @property
    def name(self) -> str:
        return f"{self.first_name} {self.last_name}"


class Admin:
    """The library's staff side, through the JSON API with an admin token."""

    def __init__(self, base_url: str, token: str) -> None:
        self.base_url = base_url
        self.client = httpx.Client(
            base_url=f"{base_url}/api/v1",
            headers={"Authorization": f"Bearer {token}", "Accept-Language": "en"},
            timeout=30,
        )
        self.institution_id = 0
        self._registry: str | None = None

    def close(self) -> None:
        self.client.close()

    def call(self, method: str, path: str, *, expect: int = 200, **kw: Any) -> Any:
        answer = self.client.request(method, path, **kw)
        assert answer.status_code == expect, f"{method} {path}: {answer.status_code} {answer.text}"
        return answer.json() if answer.content else None

    def set_up_library(self) -> None:
        """One institution with the three usual groups; externals pay 50.00 for a new card."""
        institution = self.call(
            "POST",
            "/institutions",
            expect=201,
            json={
                "code": INSTITUTION,
                "name": "Nordby Library",
                "card_prefix": "2770",
                "currency": "DKK",
                "default_language": "da",
            },
        )
        self.institution_id = int(institution["id"])
        for code, name, extra in (
            ("student", "Students", {}),
            ("employee", "Employees", {}),
            ("external", "External users", {"card_replacement_fee_minor": 5000}),
        ):
            self.call(
                "POST",
                f"/institutions/{self.institution_id}/groups",
                expect=201,
                json={"code": code, "name": name, **extra},
            )

    def register(
        self,
        group: str = "external",
        *,
        channel: str = "letter",
        physical: bool = False,
        activate: bool = True,
        password: str = PASSWORD,
        pin: str = PIN,
        **fields: Any,
    ) -> Patron:
        """A new patron; with `activate` the account is activated through the API (R2)."""
        tag = uuid.uuid4().hex[:8]
        fields.setdefault("first_name", "Karen")
        fields.setdefault("last_name", f"Holm-{tag}")
        if group == "external":
            fields.setdefault("email", f"karen.{tag}@example.org")
        if group == "student":
            fields.setdefault("registry_id", f"S{tag}")
            fields.setdefault("institutional_email", f"s{tag}@student.example.org")
        headers = {}
        if group == "student":
            # The student registry owns students' data (R8): it registers them, as in life.
            if self._registry is None:
                self._registry = self.token("patrons:write", "activation", actor="registry")
            headers["Authorization"] = f"Bearer {self._registry}"
        made = self.call(
            "POST",
            f"/institutions/{self.institution_id}/patrons",
            expect=201,
            json={"group": group, "activation_channel": channel, **fields},
            headers=headers,
        )
        patron = Patron(
            id=int(made["patron"]["id"]),
            group=group,
            first_name=made["patron"]["first_name"],
            last_name=made["patron"]["last_name"],
            email=made["patron"]["email"],
            ecard=made["ecard"]["number"],
            ecard_id=int(made["ecard"]["id"]),
            password=password,
            pin=pin,
            code=made.get("activation_code"),
        )
        if physical:
            card = self.call(
                "POST", f"/patrons/{patron.id}/cards", expect=201, json={"kind": "physical"}
            )
            patron.physical, patron.physical_id = card["number"], int(card["id"])
        if activate:
            assert patron.code, f"no activation code in the registration answer: {made}"
            self.call(
                "POST",
                "/activation",
                json={
                    "card_number": patron.ecard,
                    "code": patron.code,
                    "password": password,
                    "pin": pin,
                },
            )
            patron.code = None
        return patron

    def charge(self, patron: Patron, minor: int, description: str, kind: str = "overdue") -> Any:
        return self.call(
            "POST",
            f"/patrons/{patron.id}/fees",
            expect=201,
            json={"type": kind, "amount_minor": minor, "description": description},
        )

    def patron(self, patron: Patron) -> dict[str, Any]:
        return dict(self.call("GET", f"/patrons/{patron.id}"))

    def status(self, number: str, language: str = "en") -> dict[str, Any]:
        return dict(
            self.call("GET", f"/cards/{number}/status", headers={"Accept-Language": language})
        )

    def token(self, *scopes: str, actor: str = "terminal") -> str:
        made = self.call(
            "POST",
            "/tokens",
            expect=201,
            json={
                "name": f"e2e {actor}",
                "actor_kind": actor,
                "scopes": list(scopes),
                "institution_id": self.institution_id,
            },
        )
        return str(made["secret"])


# --- the browser ------------------------------------------------------------------------
