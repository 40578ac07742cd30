"""Bodies of the patron's own routes: the app's token and the e-card (R3)."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import BaseModel, Field

from libcard.cards.rules import CardState
from libcard.web.api.schemas import BlockOut, Refusal, Secret


class MeTokenIn(BaseModel):
    login: Secret = Field(description="The patron's card number or e-mail address.")
    password: Secret = Field(description="The password of the patron's account.")


class MeTokenOut(BaseModel):
    access_token: str = Field(
        description="Send as `Authorization: Bearer …`. Shown this once; keep it in the "
        "device's secure storage."
    )
    token_type: Literal["bearer"] = "bearer"  # noqa: S105 — a kind, not a secret
    scopes: list[str] = Field(description="What the token may do: only `me`.")
    expires_at: datetime = Field(description="After this the app logs in again.")


class WalletPasses(BaseModel):
    apple: str | None = Field(
        description="Where to fetch the e-card's Apple Wallet pass: the address of "
        "`GET /me/card/pass.pkpass`, fetched with the same token. None when Apple Wallet is "
        "not offered here or the card is not in use."
    )
    google: str | None = Field(
        description="The link that saves the e-card to Google Wallet (https://pay.google.com/…), "
        "to open in the browser; it carries the pass as it is now, so fetch /me/card again "
        "for a fresh one. None when Google Wallet is not offered here or the card is not in use."
    )
    wallet_available: bool = Field(
        description="Whether the card can be saved to a wallet now: at least one link is set."
    )
    reason: str | None = Field(
        description="Why it cannot, in the asked language (no wallet offered by this library, "
        "or the card not in use); None when it can."
    )


class MeCardOut(BaseModel):
    number: str = Field(description="The e-card's number, to show as a barcode.")
    symbology: Literal["code128"] = Field(
        description="The barcode to draw the number as; every scanner at the library reads it."
    )
    holder_name: str = Field(description="The patron's first and last name.")
    state: CardState = Field(description="The e-card's state now.")
    usable: bool = Field(description="Whether the card may be used at all now.")
    refusal: Refusal | None = Field(
        description="Why the card itself cannot be used, and what to do; None when usable."
    )
    blocks: list[BlockOut] = Field(
        description="The account's blocks, with title, reason and the step that lifts each."
    )
    language: str = Field(description="The language of the texts (da, de, en).")
    passes: WalletPasses = Field(description="Saving the card to Apple or Google Wallet.")
