"""The e-card in Apple Wallet follows the card (R3): a patron adds the pass from "My card",
a phone registers it with the pass web service, the patron reports the card lost in the
portal, and the service lists the pass as updated, hands out the void pass and pushes the
phone. (SQLite only; see conftest.)"""

from __future__ import annotations

import secrets
import subprocess
from pathlib import Path

import httpx

from tests.e2e.support import (
    LIBCARD,
    Admin,
    LibcardServer,
    Portal,
    alert_text,
    form_with,
    log_in,
    submit,
)
from tests.e2e.wallet_support import WalletPush
from tests.wallet.pki import PASS_TYPE
from tests.wallet.support import pass_json, status_of_pass


def test_a_pass_reported_lost_is_listed_as_updated_void_and_pushed(
    admin: Admin, portal: Portal, libcard: LibcardServer, push_service: WalletPush
) -> None:
    patron = admin.register("external")
    page = portal.page(locale="en-GB")
    log_in(page, patron.ecard, patron.password)
    page.goto("/card")
    portal.shot(page, "card-with-wallet")
    with page.expect_download() as download:
        page.locator("#wallet-apple").click()
    content = pass_json(Path(download.value.path()).read_bytes())
    assert content["barcodes"][0]["message"] == patron.ecard
    assert status_of_pass(content) == "status.active"
    service = content["webServiceURL"]
    assert service == f"{libcard.base_url}/wallet/apple"
    serial = content["serialNumber"]
    auth = {"Authorization": f"ApplePass {content['authenticationToken']}"}

    # A phone registers the pass, as Wallet does right after adding it.
    device = secrets.token_hex(16)
    push_token = secrets.token_hex(32)
    registration = f"{service}/v1/devices/{device}/registrations/{PASS_TYPE}/{serial}"
    answer = httpx.post(registration, json={"pushToken": push_token}, headers=auth)
    assert answer.status_code == 201, answer.text
    listing = f"{service}/v1/devices/{device}/registrations/{PASS_TYPE}"
    first = httpx.get(listing)
    assert first.status_code == 200
    assert first.json()["serialNumbers"] == [serial]
    tag = first.json()["lastUpdated"]
    assert httpx.get(listing, params={"passesUpdatedSince": tag}).status_code == 204

    # The patron reports the e-card lost in the portal.
    card_id = serial.removeprefix("card-")
    page.goto("/lost-card")
    form = form_with(page, "card_id")
    form.locator(f"[name=card_id][value='{card_id}']").check()
    form.locator("[name=confirm]").check()
    submit(page, form)
    assert not alert_text(page), alert_text(page)
    assert admin.status(patron.ecard)["refusal"]["code"] == "card_lost"

    # The phone asks what changed: the pass is listed, and the pass it fetches is void.
    changed = httpx.get(listing, params={"passesUpdatedSince": tag})
    assert changed.status_code == 200, changed.text
    assert changed.json()["serialNumbers"] == [serial]
    latest = httpx.get(f"{service}/v1/passes/{PASS_TYPE}/{serial}", headers=auth)
    assert latest.status_code == 200
    void = pass_json(latest.content)
    assert void["voided"] is True
    assert "barcodes" not in void
    assert status_of_pass(void) == "status.lost"

    # The update job (each minute in `serve`; here run at once, as an operator would) pushes
    # the phone through the push service.
    ran = subprocess.run(  # noqa: S603 — our own command
        [LIBCARD, "jobs", "run", "wallet_passes"],
        cwd=libcard.workdir,
        env=libcard.env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert ran.returncode == 0, ran.stdout + ran.stderr
    pushes = push_service.server.requests_for(push_token)
    assert pushes, ran.stdout
    assert pushes[-1].headers["apns-topic"] == PASS_TYPE
    assert pushes[-1].http_version == "h2"
