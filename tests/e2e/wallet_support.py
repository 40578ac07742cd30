"""Apple Wallet for the served libcard: a test pass certificate and a push service stand-in."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from tests.wallet.apns_server import ApnsTestServer, make_server_tls
from tests.wallet.pki import PASS_TYPE, TEAM, make_pki


@dataclass(frozen=True)
class WalletPush:
    server: ApnsTestServer
    env: dict[str, str]  # the LIBCARD_APPLE_* settings of the served libcard


def start_wallet_push(folder: Path) -> WalletPush:
    """Pass certificate files in `folder`, and an APNs stand-in that trusts them."""
    files = make_pki().write(folder)
    trusted = folder / "trusted.pem"
    trusted.write_bytes(files["root"].read_bytes() + files["wwdr"].read_bytes())
    tls = make_server_tls(folder)
    server = ApnsTestServer(tls, trusted)
    server.start()
    env = {
        "LIBCARD_APPLE_PASS_TYPE_IDENTIFIER": PASS_TYPE,
        "LIBCARD_APPLE_TEAM_IDENTIFIER": TEAM,
        "LIBCARD_APPLE_PASS_CERTIFICATE_PATH": str(files["certificate"]),
        "LIBCARD_APPLE_PASS_KEY_PATH": str(files["key"]),
        "LIBCARD_APPLE_WWDR_CERTIFICATE_PATH": str(files["wwdr"]),
        "LIBCARD_APPLE_PUSH_URL": server.url,
        "LIBCARD_APPLE_PUSH_CA_PATH": str(tls.ca),
    }
    return WalletPush(server, env)
