"""The README's first command for real: `libcard serve --demo` and `libcard demo --json`
in subprocesses, asked over HTTP about every demo patron.

One served demo per database backend is shared by the tests of this module (starting it
loads the demo and hashes its passwords at the production cost, which is most of a test's
time); each test changes only what no other test here reads."""

from __future__ import annotations

import asyncio
import json
import os
import re
import socket
import sqlite3
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import httpx
import pyotp
import pytest

from libcard.sip2 import (
    CheckoutRequest,
    CheckoutResponse,
    LoginRequest,
    LoginResponse,
    PatronStatusRequest,
    PatronStatusResponse,
)
from tests.conftest import BACKENDS, _pg_admin, _pg_url_for
from tests.sip2.blocking import exchange

LIBCARD = str(Path(sys.executable).parent / "libcard")


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _cli_env(database_url: str, workdir: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("LIBCARD_")}
    env.update(
        LIBCARD_DATABASE_URL=database_url,
        LIBCARD_PEPPER_FILE=str(workdir / "secrets.json"),
        # Plain http on loopback: cookies without the Secure flag, or a client drops them.
        LIBCARD_COOKIE_SECURE="false",
        # The payment simulator that `serve` starts: a port of its own for each server.
        LIBCARD_PAYMENTS_SIMULATOR_PORT=str(_free_port()),
    )
    return env


@pytest.fixture
def cli_env(database_url: str, tmp_path: Path) -> dict[str, str]:
    return _cli_env(database_url, tmp_path)


@dataclass(frozen=True)
class Served:
    base: str  # the HTTP address
    sip2_port: int
    env: dict[str, str]
    workdir: Path
    demo: dict[str, Any]  # `libcard demo --json` as printed once the server was up


@pytest.fixture(scope="module", params=BACKENDS)
def served(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Served]:
    """`libcard serve --demo` with HTTP and SIP2 on free ports, on a database of its own.
    SIP2 listens before HTTP answers, so a healthy HTTP side means SIP2 is there too."""
    workdir = tmp_path_factory.mktemp(f"served-{request.param}")
    database = f"libcard_cli_{uuid.uuid4().hex[:8]}"
    if request.param == "postgres":
        asyncio.run(_pg_admin(f'CREATE DATABASE "{database}"'))
        url = _pg_url_for(database)
    else:
        url = f"sqlite+aiosqlite:///{workdir / 'libcard.sqlite3'}"
    env = _cli_env(url, workdir)
    port, sip2_port = _free_port(), _free_port()
    log = (workdir / "serve.log").open("w")
    process = subprocess.Popen(  # noqa: S603 — our own command
        [LIBCARD, "serve", "--demo", "--port", str(port), "--sip2-port", str(sip2_port)],
        cwd=workdir,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if process.poll() is not None:
                raise AssertionError((workdir / "serve.log").read_text())
            try:
                if httpx.get(f"{base}/healthz", timeout=1).status_code == 200:
                    break
            except httpx.TransportError:
                time.sleep(0.2)
        else:
            raise AssertionError("libcard serve did not answer within 60 s")
        yield Served(base, sip2_port, env, workdir, _demo(env, workdir))
    finally:
        process.terminate()
        process.wait(timeout=20)
        log.close()
        if request.param == "postgres":
            asyncio.run(_pg_admin(f'DROP DATABASE IF EXISTS "{database}" WITH (FORCE)'))


def _libcard(
    cli_env: dict[str, str], cwd: Path, *args: str, check: bool = True
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(  # noqa: S603 — our own command
        [LIBCARD, *args],
        cwd=cwd,
        env=cli_env,
        capture_output=True,
        text=True,
        timeout=120,
        check=check,
    )


def _demo(cli_env: dict[str, str], cwd: Path) -> dict[str, Any]:
    return dict(json.loads(_libcard(cli_env, cwd, "demo", "--json").stdout))


def test_demo_json_lists_a_patron_in_every_state_the_issue_names(
    cli_env: dict[str, str], tmp_path: Path
) -> None:
    demo = _demo(cli_env, tmp_path)
    keys = {p["key"] for p in demo["patrons"]}
    assert {
        "ok",
        "fee_blocked",
        "replacement_unpaid",
        "in_collection",
        "staff_blocked",
        "pin_locked",
        "pin_one_left",
        "not_activated",
        "lost_card",
        "expired",
        "student",
        "employee",
    } <= keys
    assert {p["group"] for p in demo["patrons"]} == {"student", "employee", "external"}
    assert demo["api_token"].startswith("lct_")
    by_key = {p["key"]: p for p in demo["patrons"]}
    assert by_key["fee_blocked"]["block_codes"] == ["fee_threshold"]
    assert by_key["pin_locked"]["block_codes"] == ["pin_locked"]
    assert by_key["not_activated"]["activation_code"]


def test_served_demo_answers_as_the_demo_says(served: Served) -> None:
    demo = served.demo
    headers = {"Authorization": f"Bearer {demo['api_token']}", "Accept-Language": "en"}
    with httpx.Client(base_url=f"{served.base}/api/v1", headers=headers, timeout=10) as api:
        for patron in demo["patrons"]:
            status = api.get(f"/cards/{patron['card_number']}/status").json()
            codes = [b["code"] for b in status["blocks"]]
            assert status["may"]["borrow"] is patron["may_borrow"], patron["key"]
            if patron["expected_state"] in ("ok", "blocked"):
                assert status["usable"], patron["key"]
                assert codes == patron["block_codes"], patron["key"]
            else:
                assert status["refusal"]["code"] == f"card_{patron['expected_state']}"
                if patron["expected_state"] == "not_activated":
                    assert "Activate now" in status["refusal"]["message"]
                else:
                    # R10: the e-card keeps working when a physical card is lost or expired.
                    ecard = api.get(f"/cards/{patron['ecard_number']}/status").json()
                    assert ecard["usable"], patron["key"]
                    assert ecard["may"]["borrow"], patron["key"]

        one_left = next(p for p in demo["patrons"] if p["key"] == "pin_one_left")
        answer = api.post(f"/cards/{one_left['card_number']}/pin/verify", json={"pin": "9999"})
        assert answer.json()["locked"] is True

        waiting = next(p for p in demo["patrons"] if p["key"] == "not_activated")
        activated = api.post(
            "/activation",
            json={
                "card_number": waiting["card_number"],
                "code": waiting["activation_code"],
                "password": "Lighthouse-Keeper-7",
                "pin": "4826",
            },
        )
        assert activated.status_code == 200, activated.text
        status = api.get(f"/cards/{waiting['card_number']}/status").json()
        assert status["usable"]
        assert status["may"]["borrow"]


def test_served_demo_lends_at_a_self_checkout_machine(served: Served) -> None:
    demo = served.demo
    machine = demo["sip2"]
    ok = next(p for p in demo["patrons"] if p["key"] == "ok")
    barcode = demo["items_to_check_out"][0]
    title = next(item["title"] for item in demo["items"] if item["barcode"] == barcode)
    now = datetime.now()
    institution = machine["institution_id"]
    login, status, lent = exchange(
        served.sip2_port,
        machine["encoding"],
        LoginRequest(
            uid_algorithm="0",
            pwd_algorithm="0",
            login_user_id=machine["login"],
            login_password=machine["password"],
        ),
        PatronStatusRequest(
            language=0,
            transaction_date=now,
            institution_id=institution,
            patron_identifier=ok["card_number"],
            patron_password=ok["pin"],
        ),
        CheckoutRequest(
            sc_renewal_policy=False,
            no_block=False,
            transaction_date=now,
            nb_due_date=None,
            institution_id=institution,
            patron_identifier=ok["card_number"],
            item_identifier=barcode,
        ),
    )
    assert isinstance(login, LoginResponse)
    assert login.ok
    assert isinstance(status, PatronStatusResponse)
    assert (status.valid_patron, status.valid_patron_password) == (True, True)
    assert status.personal_name == ok["name"]
    assert isinstance(lent, CheckoutResponse)
    assert lent.ok, lent.screen_messages
    assert (lent.item_identifier, lent.title_identifier) == (barcode, title)
    assert lent.due_date


def test_token_create_makes_a_token_with_just_the_scopes_asked(served: Served) -> None:
    demo = served.demo
    made = _libcard(
        served.env,
        served.workdir,
        "token",
        "create",
        "--name",
        "catalogue",
        "--actor",
        "service",
        "--scope",
        "cards:status",
        "--institution",
        "demo",
    )
    secret = made.stdout.strip()
    assert secret.startswith("lct_")
    assert secret not in made.stderr
    ok = demo["patrons"][0]
    with httpx.Client(
        base_url=f"{served.base}/api/v1", headers={"Authorization": f"Bearer {secret}"}, timeout=10
    ) as api:
        assert api.get(f"/cards/{ok['card_number']}/status").json()["may"]["borrow"] is True
        refused = api.get("/institutions")
        assert refused.status_code == 403
        assert refused.json()["code"] == "scope_missing"

    unknown = _libcard(
        served.env,
        served.workdir,
        "token",
        "create",
        "--name",
        "x",
        "--institution",
        "nowhere",
        check=False,
    )
    assert unknown.returncode != 0
    assert "nowhere" in unknown.stderr


def test_db_upgrade_migrates_an_empty_database(tmp_path: Path) -> None:
    """`libcard db upgrade` brings a new SQLite file to the latest schema, and is idempotent."""
    path = tmp_path / "fresh.sqlite3"
    env = {k: v for k, v in os.environ.items() if not k.startswith("LIBCARD_")}
    env["LIBCARD_DATABASE_URL"] = f"sqlite:///{path}"
    for _ in range(2):
        done = _libcard(env, tmp_path, "db", "upgrade")
        assert "up to date" in done.stderr
    with sqlite3.connect(path) as db:
        tables = {row[0] for row in db.execute("SELECT name FROM sqlite_master")}
        version = db.execute("SELECT version_num FROM alembic_version").fetchone()
    assert {"patron", "card", "fee", "audit_event", "block"} <= tables
    assert version is not None


def _desk_password_step(base: str, username: str, password: str) -> httpx.Response:
    """The desk login's first step, as a browser posts it."""
    with httpx.Client(base_url=base, timeout=10) as client:
        page = client.get("/desk/login")
        token = re.search(r'name="csrf" value="([^"]+)"', page.text)
        assert token, page.text
        return client.post(
            "/desk/login", data={"username": username, "password": password, "csrf": token[1]}
        )


def _staff_create(
    cli_env: dict[str, str], cwd: Path, password: str, *options: str
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(  # noqa: S603 — our own command
        [LIBCARD, "staff", "create", "--institution", "demo", "--password-stdin", *options],
        input=password + "\n",
        cwd=cwd,
        env=cli_env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def test_staff_create_makes_the_first_administrator(served: Served) -> None:
    password = "Strong-Ferry-Lantern-88"
    made = _staff_create(
        served.env, served.workdir, password, "--username", "Rita.Root", "--name", "Rita Root"
    )
    assert made.returncode == 0, made.stderr
    assert password not in made.stdout + made.stderr
    # The password is taken, and the new user is sent to set up the authenticator app.
    step = _desk_password_step(served.base, "rita.root", password)
    assert step.status_code == 303, step.text
    assert step.headers["location"].startswith("/desk/enrol")
    assert _desk_password_step(served.base, "rita.root", password + "9").status_code == 401
    weak = _staff_create(
        served.env, served.workdir, "password", "--username", "weak", "--name", "Weak One"
    )
    assert weak.returncode == 1
    assert "at least 10 characters" in weak.stderr


def test_the_demo_desk_users_log_in_with_their_printed_keys(served: Served) -> None:
    demo = served.demo
    roles = {user["role"]: user for user in demo["staff"]}
    assert set(roles) == {"desk", "supervisor", "admin"}
    for user in roles.values():
        assert re.fullmatch(r"[A-Z2-7]{32}", user["totp_secret"])
        assert user["totp_uri"].startswith("otpauth://totp/")
    admin = roles["admin"]
    with httpx.Client(
        base_url=served.base, timeout=10, headers={"Accept-Language": "en"}
    ) as client:
        page = client.get("/desk/login")
        token = re.search(r'name="csrf" value="([^"]+)"', page.text)
        assert token
        step = client.post(
            "/desk/login",
            data={"username": admin["username"], "password": demo["staff_password"]}
            | {"csrf": token[1]},
        )
        assert step.headers["location"].startswith("/desk/second-factor")
        page = client.get("/desk/second-factor")
        token = re.search(r'name="csrf" value="([^"]+)"', page.text)
        assert token
        code = pyotp.TOTP(admin["totp_secret"]).now()
        done = client.post("/desk/second-factor", data={"code": code, "csrf": token[1]})
        assert done.status_code == 303, done.text
        desk = client.get("/desk")
        assert desk.status_code == 200
        assert admin["name"] in desk.text
        assert "/desk/admin" in desk.text
