"""Apple Wallet passes as the settings configure them: whether they are offered, and the signer."""

from __future__ import annotations

from libcard.config import Settings
from libcard.errors import InvalidInput
from libcard.wallet.apple import Signer
from libcard.wallet.rules import PassIssuer

# The settings Apple Wallet needs (the key's password is optional, so not here).
APPLE_SETTINGS = (
    "apple_pass_type_identifier",
    "apple_team_identifier",
    "apple_pass_certificate_path",
    "apple_pass_key_path",
    "apple_wwdr_certificate_path",
)


def apple_wallet_configured(settings: Settings) -> bool:
    """Whether passes can be issued: identifiers, certificate, key and WWDR all set."""
    return all(getattr(settings, name) for name in APPLE_SETTINGS)


def apple_issuer(settings: Settings) -> PassIssuer:
    identifier = settings.apple_pass_type_identifier
    team = settings.apple_team_identifier
    if not apple_wallet_configured(settings) or not identifier or not team:
        raise InvalidInput("wallet_unavailable", "Apple Wallet passes are not set up here.")
    return PassIssuer(identifier, team)


def apple_signer(settings: Settings) -> Signer:
    """The signer from the configured files; a clear error if one cannot be read."""
    certificate = settings.apple_pass_certificate_path
    key = settings.apple_pass_key_path
    intermediate = settings.apple_wwdr_certificate_path
    if certificate is None or key is None or intermediate is None:
        raise InvalidInput("wallet_unavailable", "Apple Wallet passes are not set up here.")
    password = settings.apple_pass_key_password
    return Signer.from_files(
        certificate,
        key,
        intermediate,
        password.get_secret_value() if password is not None else None,
    )
