"""A throwaway certificate hierarchy like Apple's: a root, a WWDR-like intermediate, a pass leaf."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import NameOID

PASS_TYPE = "pass.org.example.library"
TEAM = "ABCDE12345"


def _name(common_name: str) -> x509.Name:
    return x509.Name(
        [
            x509.NameAttribute(NameOID.COMMON_NAME, common_name),
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, "Example Test CA"),
        ]
    )


def _issue(
    subject: str,
    public_key: rsa.RSAPublicKey | ec.EllipticCurvePublicKey,
    issuer: x509.Name,
    issuer_key: ec.EllipticCurvePrivateKey,
    ca: bool,
) -> x509.Certificate:
    now = datetime.now(UTC)
    builder = (
        x509.CertificateBuilder()
        .subject_name(_name(subject))
        .issuer_name(issuer)
        .public_key(public_key)
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(days=1))
        .not_valid_after(now + timedelta(days=30))
        .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True)
    )
    if ca:
        builder = builder.add_extension(
            x509.KeyUsage(
                digital_signature=False,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=True,
                crl_sign=True,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
    return builder.sign(issuer_key, hashes.SHA256())


@dataclass(frozen=True)
class PassPki:
    root: x509.Certificate
    intermediate: x509.Certificate
    leaf: x509.Certificate
    leaf_key: rsa.RSAPrivateKey

    def write(self, folder: Path, password: bytes | None = None) -> dict[str, Path]:
        """PEM files of the hierarchy in `folder`; the leaf key encrypted if `password`."""
        encryption: serialization.KeySerializationEncryption = (
            serialization.BestAvailableEncryption(password)
            if password
            else serialization.NoEncryption()
        )
        files = {
            "root": (folder / "root.pem", self.root.public_bytes(serialization.Encoding.PEM)),
            "wwdr": (
                folder / "wwdr.pem",
                self.intermediate.public_bytes(serialization.Encoding.PEM),
            ),
            "certificate": (
                folder / "pass.pem",
                self.leaf.public_bytes(serialization.Encoding.PEM),
            ),
            "key": (
                folder / "pass.key",
                self.leaf_key.private_bytes(
                    serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, encryption
                ),
            ),
        }
        for path, data in files.values():
            path.write_bytes(data)
        return {name: path for name, (path, _) in files.items()}


def make_pki() -> PassPki:
    root_key = ec.generate_private_key(ec.SECP256R1())
    root = _issue("Test Root CA", root_key.public_key(), _name("Test Root CA"), root_key, True)
    wwdr_key = ec.generate_private_key(ec.SECP256R1())
    wwdr = _issue("Test WWDR", wwdr_key.public_key(), root.subject, root_key, True)
    leaf_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    leaf = _issue(
        f"Pass Type ID: {PASS_TYPE}", leaf_key.public_key(), wwdr.subject, wwdr_key, False
    )
    return PassPki(root=root, intermediate=wwdr, leaf=leaf, leaf_key=leaf_key)
