"""The signed .pkpass file: its files, manifest, and a signature a phone would accept (R3)."""

from __future__ import annotations

import hashlib
import io
import json
import struct
import subprocess
import zipfile
import zlib
from datetime import UTC, datetime
from pathlib import Path

import pytest
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.hazmat.primitives.serialization import pkcs7

from libcard.cards.rules import CardState
from libcard.config import Settings
from libcard.errors import InvalidInput
from libcard.wallet.apple import Signer, build_pkpass, solid_png
from libcard.wallet.configured import apple_issuer, apple_signer, apple_wallet_configured
from libcard.wallet.rules import CardPass, Colour, PassContent, PassIssuer, pass_content
from libcard.wallet.texts import all_pass_strings
from tests.wallet.cms import verify_detached
from tests.wallet.pki import PASS_TYPE, TEAM, PassPki, make_pki

OPENSSL = "/usr/bin/openssl"
NOW = datetime(2026, 12, 4, 12, 0, tzinfo=UTC)


def content(state: CardState = CardState.ACTIVE) -> PassContent:
    card = CardPass(
        card_id=42,
        card_number="2100000000426",
        holder_name="Søren Kierkegaard",
        state=state,
        institution_name="Example University Library",
        expires_at=datetime(2027, 6, 30, 21, 59, 59, tzinfo=UTC),
        background=Colour(0, 51, 102),
        foreground=Colour(255, 255, 255),
    )
    return pass_content(card, PassIssuer(PASS_TYPE, TEAM), NOW, all_pass_strings())


@pytest.fixture
def files(pki: PassPki, tmp_path: Path) -> dict[str, Path]:
    return pki.write(tmp_path)


@pytest.fixture
def signer(files: dict[str, Path]) -> Signer:
    return Signer.from_files(files["certificate"], files["key"], files["wwdr"])


def unzip(data: bytes) -> dict[str, bytes]:
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        return {name: archive.read(name) for name in archive.namelist()}


def png_size(data: bytes) -> tuple[int, int]:
    assert data.startswith(b"\x89PNG\r\n\x1a\n")
    length, kind = struct.unpack(">I4s", data[8:16])
    assert kind == b"IHDR"
    assert (
        zlib.crc32(data[12 : 16 + length])
        == struct.unpack(">I", data[16 + length : 20 + length])[0]
    )
    width, height = struct.unpack(">II", data[16:24])
    return width, height


def openssl_verify(folder: Path, manifest: bytes, signature: bytes, ca: Path) -> int:
    (folder / "manifest.json").write_bytes(manifest)
    (folder / "signature").write_bytes(signature)
    result = subprocess.run(  # noqa: S603
        [
            OPENSSL,
            "smime",
            "-verify",
            "-binary",
            "-inform",
            "DER",
            "-in",
            str(folder / "signature"),
            "-content",
            str(folder / "manifest.json"),
            "-CAfile",
            str(ca),
            "-purpose",
            "any",
            "-out",
            "/dev/null",
        ],
        capture_output=True,
        check=False,
    )
    return result.returncode


def test_the_pkpass_holds_every_file_and_a_manifest_of_their_hashes(signer: Signer) -> None:
    package = unzip(build_pkpass(content(), None, signer))

    assert set(package) == {
        "pass.json", "manifest.json", "signature",
        "icon.png", "icon@2x.png", "icon@3x.png", "logo.png", "logo@2x.png", "logo@3x.png",
        "da.lproj/pass.strings", "de.lproj/pass.strings", "en.lproj/pass.strings",
    }  # fmt: skip
    manifest = json.loads(package["manifest.json"])
    assert set(manifest) == set(package) - {"manifest.json", "signature"}
    for name, digest in manifest.items():
        assert hashlib.sha1(package[name]).hexdigest() == digest, name  # noqa: S324
    pass_json = json.loads(package["pass.json"])
    assert pass_json["serialNumber"] == "card-42"
    assert pass_json["storeCard"]["primaryFields"][0]["value"] == "Søren Kierkegaard"
    assert png_size(package["icon.png"]) == (29, 29)
    assert png_size(package["icon@2x.png"]) == (58, 58)
    strings = package["en.lproj/pass.strings"].decode("utf-16")
    assert '"label.holder" = "Card holder";' in strings


def test_the_signature_verifies_with_openssl_against_the_root(
    signer: Signer, files: dict[str, Path], tmp_path: Path
) -> None:
    package = unzip(build_pkpass(content(), None, signer))

    assert (
        openssl_verify(tmp_path, package["manifest.json"], package["signature"], files["root"]) == 0
    )


def test_a_tampered_manifest_fails_verification(
    signer: Signer, files: dict[str, Path], tmp_path: Path
) -> None:
    package = unzip(build_pkpass(content(), None, signer))
    tampered = package["manifest.json"].replace(b'"pass.json": "', b'"pass.json": "0', 1)
    assert tampered != package["manifest.json"]

    assert openssl_verify(tmp_path, tampered, package["signature"], files["root"]) != 0
    with pytest.raises(ValueError, match="does not match"):
        verify_detached(package["signature"], tampered)


def test_a_signature_from_another_hierarchy_fails_verification(
    signer: Signer, tmp_path: Path
) -> None:
    elsewhere = tmp_path / "stranger"
    elsewhere.mkdir()
    stranger = make_pki().write(elsewhere)
    package = unzip(build_pkpass(content(), None, signer))

    assert (
        openssl_verify(tmp_path, package["manifest.json"], package["signature"], stranger["root"])
        != 0
    )


def test_the_signature_verifies_with_cryptography(pki: PassPki, signer: Signer) -> None:
    package = unzip(build_pkpass(content(), None, signer))

    signed_by = verify_detached(package["signature"], package["manifest.json"])
    assert signed_by == pki.leaf
    # The chain a phone builds: pass certificate ← WWDR ← root, both carried or trusted.
    signed_by.verify_directly_issued_by(pki.intermediate)
    pki.intermediate.verify_directly_issued_by(pki.root)
    assert pki.intermediate in pkcs7.load_der_pkcs7_certificates(package["signature"])


def test_the_signature_does_not_verify_with_a_changed_signature_byte(signer: Signer) -> None:
    package = unzip(build_pkpass(content(), None, signer))
    signature = bytearray(package["signature"])
    signature[-20] ^= 0xFF  # inside the signature value, the last element of the signer info

    with pytest.raises(InvalidSignature):
        verify_detached(bytes(signature), package["manifest.json"])


def test_a_voided_pass_is_built_and_signed_too(signer: Signer) -> None:
    package = unzip(build_pkpass(content(CardState.LOST), None, signer))

    pass_json = json.loads(package["pass.json"])
    assert pass_json["voided"] is True
    assert "barcodes" not in pass_json
    verify_detached(package["signature"], package["manifest.json"])


def test_the_institutions_images_are_used(signer: Signer) -> None:
    icon = solid_png(29, 29, Colour(200, 0, 0))
    package = unzip(build_pkpass(content(), {"icon.png": icon}, signer))

    assert package["icon.png"] == icon
    assert "icon@2x.png" not in package


@pytest.mark.parametrize(
    ("images", "code"),
    [
        ({"../icon.png": solid_png(1, 1, Colour(0, 0, 0))}, "wallet_image_name"),
        ({"icon.png": b"GIF89a"}, "wallet_image_format"),
    ],
)
def test_bad_images_are_refused(signer: Signer, images: dict[str, bytes], code: str) -> None:
    with pytest.raises(InvalidInput) as refused:
        build_pkpass(content(), images, signer)
    assert refused.value.code == code


def test_a_password_protected_key_is_read_with_its_password(pki: PassPki, tmp_path: Path) -> None:
    files = pki.write(tmp_path, password=b"correct horse")

    signer = Signer.from_files(files["certificate"], files["key"], files["wwdr"], "correct horse")
    assert signer.certificate == pki.leaf

    for password in (None, "wrong"):
        with pytest.raises(InvalidInput) as refused:
            Signer.from_files(files["certificate"], files["key"], files["wwdr"], password)
        assert refused.value.code == "wallet_key_unreadable"
        assert "password" in refused.value.message


def test_unreadable_files_give_clear_errors(files: dict[str, Path], tmp_path: Path) -> None:
    missing = tmp_path / "missing.pem"
    garbage = tmp_path / "garbage.pem"
    garbage.write_bytes(b"-----BEGIN CERTIFICATE-----\nnot base64\n-----END CERTIFICATE-----\n")
    cases = [
        ((missing, files["key"], files["wwdr"]), "wallet_certificate_unreadable"),
        ((garbage, files["key"], files["wwdr"]), "wallet_certificate_unreadable"),
        ((files["certificate"], missing, files["wwdr"]), "wallet_key_unreadable"),
        ((files["certificate"], garbage, files["wwdr"]), "wallet_key_unreadable"),
        ((files["certificate"], files["key"], garbage), "wallet_intermediate_unreadable"),
    ]
    for paths, code in cases:
        with pytest.raises(InvalidInput) as refused:
            Signer.from_files(*paths)
        assert refused.value.code == code, paths
    with pytest.raises(InvalidInput) as refused:
        Signer.from_files(missing, files["key"], files["wwdr"])
    assert str(missing) in refused.value.message


def test_a_key_of_another_certificate_is_refused(
    pki: PassPki, files: dict[str, Path], tmp_path: Path
) -> None:
    other = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    key = tmp_path / "other.key"
    key.write_bytes(
        other.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    with pytest.raises(InvalidInput) as refused:
        Signer.from_files(files["certificate"], key, files["wwdr"])
    assert refused.value.code == "wallet_key_mismatch"


def test_passes_are_unavailable_until_everything_is_configured(files: dict[str, Path]) -> None:
    nothing = Settings(_env_file=None)
    assert not apple_wallet_configured(nothing)
    with pytest.raises(InvalidInput) as refused:
        apple_signer(nothing)
    assert refused.value.code == "wallet_unavailable"

    partly = Settings(_env_file=None, apple_pass_type_identifier=PASS_TYPE)
    assert not apple_wallet_configured(partly)

    configured = Settings(
        _env_file=None,
        apple_pass_type_identifier=PASS_TYPE,
        apple_team_identifier=TEAM,
        apple_pass_certificate_path=files["certificate"],
        apple_pass_key_path=files["key"],
        apple_wwdr_certificate_path=files["wwdr"],
    )
    assert apple_wallet_configured(configured)
    assert apple_issuer(configured) == PassIssuer(PASS_TYPE, TEAM)
    package = unzip(build_pkpass(content(), None, apple_signer(configured)))
    verify_detached(package["signature"], package["manifest.json"])
