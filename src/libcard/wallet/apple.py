"""The signed .pkpass file of a card's pass: a zip of pass.json, images, texts and signature.

Apple's format: every file of the pass is listed in `manifest.json` with its SHA-1 (hex), and
`signature` is a detached PKCS #7 signature of the manifest in DER, made with the pass type
certificate and carrying Apple's WWDR intermediate certificate so a phone can build the chain.
"""

from __future__ import annotations

import hashlib
import io
import json
import re
import struct
import zipfile
import zlib
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.hazmat.primitives.serialization import pkcs7

from libcard.errors import InvalidInput
from libcard.wallet.rules import Colour, PassContent, strings_file

# The images a store card uses; a pass needs an icon, and a logo is shown top left.
IMAGE_NAME = re.compile(r"^(icon|logo|strip)(@[23]x)?\.png$")
# Sizes in points for the default images: icon 29x29, logo at most 160x50.
DEFAULT_IMAGES: dict[str, tuple[int, int]] = {
    "icon.png": (29, 29),
    "icon@2x.png": (58, 58),
    "icon@3x.png": (87, 87),
    "logo.png": (50, 50),
    "logo@2x.png": (100, 100),
    "logo@3x.png": (150, 150),
}
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"

SigningKey = rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey


def _png_chunk(kind: bytes, data: bytes) -> bytes:
    return (
        struct.pack(">I", len(data))
        + kind
        + data
        + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)
    )


def solid_png(width: int, height: int, fill: Colour, border: Colour | None = None) -> bytes:
    """An RGB PNG of one colour with an optional one-eighth-wide frame in another."""
    frame = max(1, min(width, height) // 8) if border is not None else 0
    rows = bytearray()
    for y in range(height):
        rows.append(0)  # filter type None for every scanline
        for x in range(width):
            edge = x < frame or y < frame or x >= width - frame or y >= height - frame
            colour = border if edge and border is not None else fill
            rows.extend((colour.red, colour.green, colour.blue))
    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)  # 8-bit RGB
    return (
        PNG_SIGNATURE
        + _png_chunk(b"IHDR", header)
        + _png_chunk(b"IDAT", zlib.compress(bytes(rows), 9))
        + _png_chunk(b"IEND", b"")
    )


def default_images(background: Colour, foreground: Colour) -> dict[str, bytes]:
    """Plain images in the institution's colours, for an institution that gave none."""
    return {
        name: solid_png(width, height, background, foreground)
        for name, (width, height) in DEFAULT_IMAGES.items()
    }


@dataclass(frozen=True)
class Signer:
    """The pass type certificate, its private key, and Apple's WWDR intermediate certificate."""

    certificate: x509.Certificate
    key: SigningKey
    intermediate: x509.Certificate

    @classmethod
    def from_pem(
        cls,
        certificate: bytes,
        key: bytes,
        intermediate: bytes,
        password: str | bytes | None = None,
    ) -> Signer:
        """A signer from PEM data; DER is accepted too for the certificates."""
        cert = _certificate(certificate, "wallet_certificate_unreadable", "pass certificate")
        wwdr = _certificate(intermediate, "wallet_intermediate_unreadable", "WWDR certificate")
        secret = password.encode() if isinstance(password, str) else password
        try:
            private = serialization.load_pem_private_key(key, password=secret)
        except TypeError:
            raise InvalidInput(
                "wallet_key_unreadable",
                "The pass certificate's key is protected by a password and none was given, "
                "or a password was given for a key that has none.",
            ) from None
        except ValueError:
            raise InvalidInput(
                "wallet_key_unreadable",
                "The pass certificate's key could not be read: it is not a PEM private key, "
                "or the password is wrong.",
            ) from None
        if not isinstance(private, rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey):
            raise InvalidInput(
                "wallet_key_unreadable", "The pass certificate's key is neither RSA nor EC."
            )
        public = private.public_key().public_bytes(
            serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
        )
        if public != cert.public_key().public_bytes(
            serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
        ):
            raise InvalidInput(
                "wallet_key_mismatch", "The key does not belong to the pass certificate."
            )
        return cls(certificate=cert, key=private, intermediate=wwdr)

    @classmethod
    def from_files(
        cls,
        certificate: Path,
        key: Path,
        intermediate: Path,
        password: str | bytes | None = None,
    ) -> Signer:
        return cls.from_pem(
            _read(certificate, "wallet_certificate_unreadable", "pass certificate"),
            _read(key, "wallet_key_unreadable", "pass certificate's key"),
            _read(intermediate, "wallet_intermediate_unreadable", "WWDR certificate"),
            password,
        )

    def sign(self, manifest: bytes) -> bytes:
        """A detached PKCS #7 signature of `manifest`, DER; signing time is included."""
        return (
            pkcs7.PKCS7SignatureBuilder()
            .set_data(manifest)
            .add_signer(self.certificate, self.key, hashes.SHA256())
            .add_certificate(self.intermediate)
            .sign(
                serialization.Encoding.DER,
                [pkcs7.PKCS7Options.DetachedSignature, pkcs7.PKCS7Options.Binary],
            )
        )


def _read(path: Path, code: str, what: str) -> bytes:
    try:
        return path.read_bytes()
    except OSError as error:
        raise InvalidInput(
            code, f"The {what} file {path} cannot be read: {error.strerror}.", path=str(path)
        ) from None


def _certificate(data: bytes, code: str, what: str) -> x509.Certificate:
    try:
        if data.lstrip().startswith(b"-----BEGIN"):
            return x509.load_pem_x509_certificate(data)
        return x509.load_der_x509_certificate(data)
    except ValueError:
        raise InvalidInput(code, f"The {what} is not a PEM or DER certificate.") from None


def pass_files(content: PassContent, images: Mapping[str, bytes] | None) -> dict[str, bytes]:
    """Every file of the pass but the manifest and signature, by its path in the zip."""
    colours = content.pass_json
    given = dict(images or {})
    for name, data in given.items():
        if IMAGE_NAME.match(name) is None:
            raise InvalidInput(
                "wallet_image_name",
                "Pass images are icon, logo or strip, as .png, @2x or @3x.",
                name=name,
            )
        if not data.startswith(PNG_SIGNATURE):
            raise InvalidInput("wallet_image_format", "Pass images are PNG files.", name=name)
    if "icon.png" not in given:
        background = _colour(colours["backgroundColor"])
        foreground = _colour(colours["foregroundColor"])
        given = {**default_images(background, foreground), **given}
    files = {"pass.json": json.dumps(content.pass_json, ensure_ascii=False).encode("utf-8")}
    files.update(given)
    for language, strings in content.strings.items():
        files[f"{language}.lproj/pass.strings"] = strings_file(strings)
    return files


def _colour(css: str) -> Colour:
    red, green, blue = (int(part) for part in css.removeprefix("rgb(").rstrip(")").split(","))
    return Colour(red, green, blue)


def manifest(files: Mapping[str, bytes]) -> bytes:
    """manifest.json: each file's path → SHA-1 of its bytes in hex, as Apple specifies."""
    digests = {name: hashlib.sha1(data).hexdigest() for name, data in sorted(files.items())}  # noqa: S324
    return json.dumps(digests, indent=1).encode("utf-8")


def build_pkpass(content: PassContent, images: Mapping[str, bytes] | None, signer: Signer) -> bytes:
    """The .pkpass file (application/vnd.apple.pkpass) of `content`, signed by `signer`."""
    files = pass_files(content, images)
    manifest_bytes = manifest(files)
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, data in files.items():
            archive.writestr(name, data)
        archive.writestr("manifest.json", manifest_bytes)
        archive.writestr("signature", signer.sign(manifest_bytes))
    return buffer.getvalue()
