"""What the wallet tests share: an installation with both wallets set up from test files,
and readers of what they hand out."""

from __future__ import annotations

import io
import json
import zipfile
from dataclasses import replace
from functools import cache
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from joserfc import jwt
from joserfc.jwk import RSAKey

from libcard.cards.service import find_card
from libcard.config import Settings
from libcard.runtime import Runtime
from libcard.wallet.configured import APPLE_SETTINGS
from libcard.wallet.google import GOOGLE_SETTINGS
from libcard.wallet.models import WalletPass
from tests.conftest import TEST_KEYS
from tests.wallet.pki import PASS_TYPE, TEAM, PassPki

PUBLIC = "https://library.example.org"
GOOGLE_ISSUER = "3388000000012345678"
GOOGLE_EMAIL = "wallet@example-library.iam.gserviceaccount.com"
GOOGLE_KEY_ID = "0f1e2d3c4b5a69788796a5b4c3d2e1f0a1b2c3d4"
SAVE_URL = "https://pay.google.com/gp/v/save/"
PKPASS_TYPE = "application/vnd.apple.pkpass"
# Every wallet setting unset, for an installation that offers none.
NO_APPLE: dict[str, Any] = dict.fromkeys(APPLE_SETTINGS)
NO_GOOGLE: dict[str, Any] = dict.fromkeys(GOOGLE_SETTINGS)


@cache
def google_key() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


def write_google_key(folder: Path) -> Path:
    """The service account key file as the Google Cloud console downloads it."""
    pem = google_key().private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    path = folder / "google-service-account.json"
    path.write_text(
        json.dumps(
            {
                "type": "service_account",
                "project_id": "example-library",
                "private_key_id": GOOGLE_KEY_ID,
                "private_key": pem.decode(),
                "client_email": GOOGLE_EMAIL,
                "token_uri": "https://oauth2.googleapis.com/token",
            }
        )
    )
    return path


def wallet_settings(database_url: str, folder: Path, pki: PassPki, **overrides: Any) -> Settings:
    """Settings with both wallets set up from files in `folder`."""
    files = pki.write(folder)
    values: dict[str, Any] = {
        "database_url": database_url,
        "peppers": TEST_KEYS,
        "pepper_file": folder / "unused-secrets.json",
        "public_url": PUBLIC,
        "run_jobs": False,
        "apple_pass_type_identifier": PASS_TYPE,
        "apple_team_identifier": TEAM,
        "apple_pass_certificate_path": files["certificate"],
        "apple_pass_key_path": files["key"],
        "apple_wwdr_certificate_path": files["wwdr"],
        "google_wallet_issuer_id": GOOGLE_ISSUER,
        "google_wallet_key_path": write_google_key(folder),
        **overrides,
    }
    return Settings(_env_file=None, **values)


def with_settings(runtime: Runtime, **overrides: Any) -> Runtime:
    """The same database and clock under other settings (as another installation)."""
    return replace(runtime, settings=runtime.settings.model_copy(update=overrides))


def read_pkpass(data: bytes) -> dict[str, bytes]:
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        return {name: archive.read(name) for name in archive.namelist()}


def pass_json(data: bytes) -> dict[str, Any]:
    content: dict[str, Any] = json.loads(read_pkpass(data)["pass.json"])
    return content


def saved_object(link: str) -> tuple[dict[str, Any], dict[str, Any]]:
    """The claims of a save link's JWT, verified with the service account's public key, and
    the one pass object it carries."""
    assert link.startswith(SAVE_URL), link
    key = RSAKey.import_key(google_key().public_key())
    claims: dict[str, Any] = jwt.decode(link.removeprefix(SAVE_URL), key).claims
    [card_object] = claims["payload"]["genericObjects"]
    return claims, card_object


def status_of_pass(content: dict[str, Any]) -> str:
    [status] = [f for f in content["storeCard"]["auxiliaryFields"] if f["key"] == "status"]
    value: str = status["value"]
    return value


async def card_id_of(runtime: Runtime, number: str) -> int:
    async with runtime.unit() as ctx:
        return (await find_card(ctx, number)).id


async def recorded_pass(runtime: Runtime, card_id: int) -> WalletPass | None:
    async with runtime.unit(readonly=True) as ctx:
        return await ctx.session.get(WalletPass, card_id)
