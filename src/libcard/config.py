"""The one settings object. Nothing else in libcard reads the environment."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import Literal

from pydantic import Field, SecretStr, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict


class Settings(BaseSettings):
    """Configuration from `LIBCARD_*` environment variables (or a `.env` file)."""

    model_config = SettingsConfigDict(env_prefix="LIBCARD_", env_file=".env", extra="ignore")

    database_url: str = Field(
        default="sqlite+aiosqlite:///./libcard.sqlite3",
        description="SQLAlchemy URL; SQLite file in the working directory by default.",
    )
    # Keyed hashes (PINs, health-card numbers) use a secret kept outside the database.
    # Versioned so the secret can be rotated: old hashes keep verifying with their version,
    # and are re-keyed with the current version on the next successful check.
    pepper_current_version: int = 1
    peppers: dict[int, SecretStr] = Field(default_factory=dict)
    pepper_file: Path = Path("./libcard-secrets.json")
    http_host: str = "127.0.0.1"
    http_port: int = 8000
    max_request_bytes: int = 64 * 1024
    log_level: str = "INFO"

    # The SIP2 server for self-checkout machines (docs/sip2.md). Machines keep a connection
    # open for hours and send a status message every few minutes, so idle means idle long.
    sip2_enabled: bool = True
    sip2_host: str = "127.0.0.1"
    sip2_port: int = Field(default=6001, ge=0, le=65535)
    sip2_idle_seconds: float = Field(default=600.0, ge=5, le=24 * 3600)
    sip2_max_message_bytes: int = Field(default=16 * 1024, ge=512, le=1024 * 1024)
    sip2_max_connections: int = Field(default=512, ge=1, le=100_000)
    # TLS for SIP2: both set, or neither (plain TCP, for a machine on a trusted network).
    sip2_tls_certfile: Path | None = None
    sip2_tls_keyfile: Path | None = None

    # The language of pages before login when the browser asks for none of da, de, en.
    default_language: Literal["da", "de", "en"] = "da"
    # The address patrons reach libcard at; links in mail (password reset) start with it.
    public_url: str = "http://127.0.0.1:8000"
    # Portal sessions: ended after this long without a page, and after this long in any case.
    portal_idle_minutes: int = Field(default=60, ge=5, le=24 * 60)
    portal_session_hours: int = Field(default=12, ge=1, le=24 * 30)
    # Desk sessions: staff leave a desk unattended less often than patrons a phone, but a
    # desk session carries more power, so it ends sooner when idle and after a working day.
    desk_idle_minutes: int = Field(default=30, ge=5, le=12 * 60)
    desk_session_hours: int = Field(default=10, ge=1, le=24)
    # Cookies carry the Secure flag (and the __Host- prefix) unless this is turned off for a
    # plain-HTTP development setup on another host than localhost.
    cookie_secure: bool = True

    # Mail: "smtp" in production; the embedded default writes each message as a file.
    mail_transport: Literal["smtp", "file", "console"] = "file"
    mail_from: str = "libcard <noreply@localhost>"
    mail_dir: Path = Path("./libcard-mail")
    smtp_host: str = "127.0.0.1"
    smtp_port: int = 25
    smtp_username: str | None = None
    smtp_password: SecretStr | None = None
    smtp_starttls: bool = False  # upgrade a plain connection (port 587)
    smtp_tls: bool = False  # TLS from the first byte (port 465)
    smtp_timeout_seconds: float = 30.0
    # The daily jobs (overdue fines, lost items) run in `serve` itself; turn off where
    # `libcard worker` processes run them instead.
    run_jobs: bool = True
    # Online payments (docs/payments.md): providers and their simulator.
    # The embedded default (SQLite) runs a simulator of both providers' HTTP APIs on loopback
    # and points the providers at it, with made-up credentials whose secrets are in the source:
    # so it is on only where the setting says so or, unset, on SQLite. Production (PostgreSQL)
    # leaves it off and sets the real credentials; a provider without them is not offered.
    payments_simulator: bool | None = None
    payments_simulator_port: int = Field(default=8010, ge=1, le=65535)
    payments_timeout_seconds: float = Field(default=15.0, gt=0, le=120)
    # MobilePay: the Vipps MobilePay ePayment API (test environment: https://apitest.vipps.no).
    mobilepay_base_url: str = "https://api.vipps.no"
    mobilepay_client_id: str | None = None
    mobilepay_client_secret: SecretStr | None = None
    mobilepay_subscription_key: SecretStr | None = None
    mobilepay_merchant_serial_number: str | None = None
    # The secret MobilePay returned when libcard's webhook was registered with its Webhooks API.
    mobilepay_webhook_secret: SecretStr | None = None
    # Payment cards: the QuickPay API; the API key authenticates libcard, the account's private
    # key signs QuickPay's callbacks.
    card_base_url: str = "https://api.quickpay.net"
    card_api_key: SecretStr | None = None
    card_private_key: SecretStr | None = None
    # How long a card payment link stays payable; later the payment counts as expired.
    card_link_minutes: int = Field(default=20, ge=5, le=24 * 60)
    # -- payments settings end --
    # The identity broker for strong login before paying (docs/payments.md, OpenID Connect).
    # No issuer: strong login is unavailable, and pages that need it say so
    # (docs/identity-broker.md). The broker must list public_url + "/login/strong/callback"
    # as a redirect URI of this client.
    broker_issuer: str | None = None
    broker_client_id: str = ""
    broker_client_secret: SecretStr | None = None
    broker_scopes: str = "openid"
    # The assurance levels (the ID token's acr) that count as a strong login; MitID's NSIS
    # levels by default. A login at another level is refused before paying.
    broker_strong_acr: list[str] = Field(
        default_factory=lambda: [
            "https://data.gov.dk/concept/core/nsis/loa/Substantial",
            "https://data.gov.dk/concept/core/nsis/loa/High",
        ]
    )
    # The ID token claim that names the person at the broker; "sub" unless the broker's
    # subject changes between its clients and another claim stays the same.
    broker_subject_claim: str = "sub"
    # Activation by single sign-on (R2): the ID token claim that carries the student's id in
    # the student registry (the `registry_id` of the registry feed), and the code of the
    # institution whose registry that is. Both unset: single sign-on opens only accounts whose
    # identity is linked already, and new students activate with the mailed code.
    broker_registry_claim: str | None = None
    broker_registry_institution: str | None = None
    broker_timeout_seconds: float = Field(default=10.0, gt=0, le=120)
    # -- identity broker settings end --
    # Apple Wallet passes (docs/wallet.md): the pass type identifier and team identifier of
    # the Apple developer account, the pass type certificate and its key (PEM; the key may be
    # password-protected), and Apple's WWDR intermediate certificate (PEM). Any of them unset:
    # Apple Wallet passes are not offered.
    apple_pass_type_identifier: str | None = None
    apple_team_identifier: str | None = None
    apple_pass_certificate_path: Path | None = None
    apple_pass_key_path: Path | None = None
    apple_pass_key_password: SecretStr | None = None
    apple_wwdr_certificate_path: Path | None = None
    # Where pass updates are pushed (Apple's push service; a local server in tests) and, for a
    # server whose certificate no public CA signed, the CA file that verifies it.
    apple_push_url: str = "https://api.push.apple.com"
    apple_push_ca_path: Path | None = None
    # -- Apple Wallet settings end --
    # Google Wallet (docs/wallet.md): the issuer id of the Google Pay & Wallet console and the
    # service account's key file (JSON) that may act for it. Either unset: not offered.
    google_wallet_issuer_id: str | None = None
    google_wallet_key_path: Path | None = None
    google_wallet_api_url: str = "https://walletobjects.googleapis.com/walletobjects/v1"
    google_wallet_class_suffix: str = "library_card"
    # -- Google Wallet settings end --
    # The institution's app (docs/api.md, OAuth 2.0 for native apps, RFC 8252): client id →
    # the redirect URIs it may be sent back to, matched exactly; an http://127.0.0.1 or
    # http://[::1] URI matches any port (RFC 8252 7.3). Env: LIBCARD_APP_CLIENTS as JSON.
    app_clients: dict[str, list[str]] = {}

    @field_validator("app_clients")
    @classmethod
    def _app_redirect_uris(cls, value: dict[str, list[str]]) -> dict[str, list[str]]:
        # Refused at start rather than at the first login: a typo here is an open redirect
        # or an app that can never log in.
        from urllib.parse import urlsplit  # only here: nothing else in settings parses URLs

        for client_id, uris in value.items():
            if not client_id or len(client_id) > 100 or not client_id.isprintable():
                raise ValueError(f"app client id {client_id!r} is not usable")
            for uri in uris:
                parts = urlsplit(uri)
                loopback = parts.scheme == "http" and parts.hostname in ("127.0.0.1", "::1")
                private = parts.scheme not in ("http", "https") and "." in parts.scheme
                usable = parts.scheme == "https" or loopback or private
                if parts.fragment or not usable or len(uri) > 500:
                    raise ValueError(
                        f"redirect URI {uri!r} of app {client_id!r}: use https, "
                        "http://127.0.0.1 or a private scheme like dk.example.library:/oauth"
                    )
        return value

    @model_validator(mode="after")
    def _registry_claim_has_institution(self) -> Settings:
        # The claim alone could match a student of any institution of this installation.
        if bool(self.broker_registry_claim) != bool(self.broker_registry_institution):
            raise ValueError(
                "set LIBCARD_BROKER_REGISTRY_CLAIM and LIBCARD_BROKER_REGISTRY_INSTITUTION "
                "together, or neither"
            )
        return self

    @field_validator("database_url")
    @classmethod
    def _async_driver(cls, value: str) -> str:
        # Accept the plain URLs operators usually have at hand and pick the async driver.
        if value.startswith("postgresql://") or value.startswith("postgres://"):
            return "postgresql+asyncpg://" + value.split("://", 1)[1]
        if value.startswith("sqlite:///"):
            return "sqlite+aiosqlite:///" + value.removeprefix("sqlite:///")
        return value

    @property
    def is_sqlite(self) -> bool:
        return self.database_url.startswith("sqlite")

    @property
    def simulating_payments(self) -> bool:
        """Whether the payment simulator stands in for the providers (see payments_simulator)."""
        return self.is_sqlite if self.payments_simulator is None else self.payments_simulator


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    return Settings()
