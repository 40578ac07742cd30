"""The server as a SIP2 client written by someone else sees it: the PyPI package `sip2`, the
way a self-checkout vendor's software would speak, builds the requests and parses the
answers. It is synchronous, so it runs in a thread while the server runs in the test's loop."""

from __future__ import annotations

import asyncio
import contextlib
from pathlib import Path
from typing import Any

from Sip2.sip2 import Sip2  # type: ignore[import-untyped]

from tests.sip2.conftest import BOOKS, FIRST_NAME, INSTITUTION, LAST_NAME, PIN, Library

Parsed = dict[str, Any]


def conversation(
    port: int, login: str, password: str, encoding: str, card: str, log_dir: Path
) -> dict[str, Parsed]:
    """One patron's visit at the machine, message by message, as the package parses it."""
    sip = Sip2()
    sip.hostName, sip.hostPort = "127.0.0.1", port
    sip.tlsEnable = False  # plain TCP; the TLS path has a test of its own
    sip.hostEncoding = encoding
    sip.socketTimeout = 5
    sip.logfile_path = str(log_dir)  # its log holds the PIN: never in the working tree
    sip.institutionId = INSTITUTION
    sip.patron, sip.patronpwd = card, PIN
    seen: dict[str, Parsed] = {}
    try:
        sip.connect()
        seen["login"] = sip.sip_login_response(
            sip.get_response(sip.sip_login_request(login, password))
        )
        seen["status"] = sip.sip_sc_status_response(sip.get_response(sip.sip_sc_status_request()))
        seen["patron"] = sip.sip_patron_status_response(
            sip.get_response(sip.sip_patron_status_request())
        )
        seen["checkout"] = sip.sip_checkout_response(
            sip.get_response(sip.sip_checkout_request(BOOKS[0]))
        )
        seen["information"] = sip.sip_patron_information_response(
            sip.get_response(sip.sip_patron_information_request("charged"))
        )
        seen["renew"] = sip.sip_renew_response(sip.get_response(sip.sip_renew_request(BOOKS[0])))
        seen["checkin"] = sip.sip_checkin_response(
            sip.get_response(sip.sip_checkin_request(BOOKS[0]))
        )
        seen["end"] = sip.sip_end_patron_session_response(
            sip.get_response(sip.sip_end_patron_session_request())
        )
    finally:
        with contextlib.suppress(OSError):
            sip.disconnect()
        sip._socket = None  # its __del__ would disconnect again
        for handler in list(sip.log.handlers if sip.log else ()):
            handler.close()
            sip.log.removeHandler(handler)
    return seen


def field(parsed: Parsed, code: str) -> str:
    return str(parsed["variable"][code][0])


async def test_an_independent_sip2_client_borrows_renews_and_returns(
    library: Library, tmp_path: Path
) -> None:
    account = library.terminals["main"]
    seen = await asyncio.to_thread(
        conversation,
        library.server.port,
        account.login,
        account.password,
        account.encoding,
        library.card("ok"),
        tmp_path,
    )

    assert seen["login"]["fixed"]["Ok"] == "1"
    assert seen["status"]["fixed"]["OnlineStatus"] == "Y"
    assert field(seen["status"], "AO") == INSTITUTION

    patron = seen["patron"]
    assert field(patron, "BL") == "Y"
    assert field(patron, "CQ") == "Y"
    assert field(patron, "AE") == f"{FIRST_NAME} {LAST_NAME}"  # cp850 both ways
    assert patron["fixed"]["PatronStatus"] == " " * 14  # nothing denied

    lent = seen["checkout"]
    assert lent["fixed"]["Ok"] == "1"
    assert field(lent, "AB") == BOOKS[0]
    assert field(lent, "AH") == "20260202    235959"
    assert field(lent, "AJ") == "Kongens Fald"

    information = seen["information"]
    assert information["fixed"]["ChargedItemsCount"] == "0001"
    assert information["variable"]["AU"] == [BOOKS[0]]

    renewed = seen["renew"]
    assert (renewed["fixed"]["Ok"], renewed["fixed"]["RenewalOk"]) == ("1", "Y")
    assert field(renewed, "AH") > "20260202    235959"

    returned = seen["checkin"]
    assert returned["fixed"]["Ok"] == "1"
    assert field(returned, "AB") == BOOKS[0]

    assert seen["end"]["fixed"]["EndSession"] == "Y"
    # Its sequence numbers came back as sent, one per message.
    assert [field(parsed, "AY") for parsed in seen.values()] == [str(n) for n in range(8)]
