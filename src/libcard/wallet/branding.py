"""How an institution's wallet passes look: colours, barcode, contact text and logo (policy).

Only an administrator changes them. A change is checked whole before anything is stored,
so a refused form keeps the old branding, and the audit log names what changed (the logo by
its SHA-256, never its bytes). Passes already handed out follow when they are built again
(`wallet.service.refresh_passes`).
"""

from __future__ import annotations

import hashlib
import struct
from enum import Enum
from typing import Any, Final

from libcard.audit.service import record
from libcard.context import Ctx
from libcard.errors import InvalidInput
from libcard.policy.service import _require_admin, get_institution
from libcard.wallet.apple import PNG_SIGNATURE
from libcard.wallet.rules import Colour
from libcard.wallet.service import SYMBOLOGIES

MAX_CONTACT = 500  # what the back of the pass shows; the column holds no more
MAX_LOGO_BYTES = 256 * 1024
# Apple's logo@3x is at most 480 x 150 pixels; a larger one is scaled down on the phone.
MAX_LOGO_WIDTH = 480
MAX_LOGO_HEIGHT = 150


class _Keep(Enum):
    KEEP = "keep"


KEEP: Final = _Keep.KEEP  # `logo=KEEP`: the stored logo stays as it is


def _colour(value: str, what: str) -> str:
    """`value` as "#rrggbb" in lower case; a refusal that names the colour otherwise."""
    try:
        colour = Colour.from_hex(value)
    except InvalidInput:
        raise InvalidInput(
            f"wallet_{what}",
            f"The {what} colour is written as #rrggbb, e.g. #003366.",
            colour=value[:20],
        ) from None
    return f"#{colour.red:02x}{colour.green:02x}{colour.blue:02x}"


def _symbology(value: str) -> str:
    if value not in SYMBOLOGIES:
        raise InvalidInput(
            "wallet_symbology", f"The barcode is one of {', '.join(sorted(SYMBOLOGIES))}."
        )
    return value


def _contact(value: str | None) -> str | None:
    """The contact text as given, trimmed, with one kind of line break; empty is none."""
    text = (value or "").replace("\r\n", "\n").replace("\r", "\n").strip()
    if len(text) > MAX_CONTACT:
        raise InvalidInput(
            "wallet_contact",
            f"The contact text has at most {MAX_CONTACT} characters; this one has {len(text)}.",
        )
    return text or None


def png_size(data: bytes) -> tuple[int, int] | None:
    """Width and height from a PNG's IHDR chunk, which the format puts first; None if the
    data is no PNG."""
    if not data.startswith(PNG_SIGNATURE) or len(data) < 24:
        return None
    length, kind = struct.unpack(">I4s", data[8:16])
    if kind != b"IHDR" or length != 13:
        return None
    width, height = struct.unpack(">II", data[16:24])
    if width == 0 or height == 0:
        return None
    return width, height


def check_logo(data: bytes) -> bytes:
    """A logo the pass can carry: a PNG of at most 256 KB and 480 x 150 pixels."""
    if len(data) > MAX_LOGO_BYTES:
        raise InvalidInput(
            "wallet_logo_size",
            f"The logo is at most {MAX_LOGO_BYTES // 1024} KB; this file has "
            f"{(len(data) + 1023) // 1024} KB.",
        )
    size = png_size(data)
    if size is None:
        raise InvalidInput("wallet_logo_format", "The logo is a PNG file.")
    width, height = size
    if width > MAX_LOGO_WIDTH or height > MAX_LOGO_HEIGHT:
        raise InvalidInput(
            "wallet_logo_dimensions",
            f"The logo is at most {MAX_LOGO_WIDTH} x {MAX_LOGO_HEIGHT} pixels; "
            f"this one is {width} x {height}.",
        )
    return data


def logo_digest(data: bytes | None) -> str | None:
    return None if data is None else "sha256:" + hashlib.sha256(data).hexdigest()


async def update_branding(
    ctx: Ctx,
    institution_id: int,
    *,
    background: str,
    foreground: str,
    label: str,
    symbology: str,
    contact: str | None,
    logo: bytes | _Keep | None = KEEP,
    remove_logo: bool = False,
) -> tuple[str, ...]:
    """Store the institution's pass branding; only what differs is written and audited.
    The answer names the fields that changed (none: nothing was written).

    `logo`: new PNG bytes, None or `remove_logo` to have none, KEEP to leave it."""
    _require_admin(ctx, institution_id)
    institution = await get_institution(ctx, institution_id)
    if remove_logo and isinstance(logo, bytes):
        raise InvalidInput(
            "wallet_logo_conflict", "Either upload a new logo or remove the logo, not both."
        )
    wanted: dict[str, Any] = {
        "wallet_background": _colour(background, "background"),
        "wallet_foreground": _colour(foreground, "foreground"),
        "wallet_label": _colour(label, "label"),
        "wallet_symbology": _symbology(symbology),
        "wallet_contact": _contact(contact),
    }
    if remove_logo or logo is None:
        wanted["wallet_logo"] = None
    elif isinstance(logo, bytes):
        wanted["wallet_logo"] = check_logo(logo)
    changes = {key: value for key, value in wanted.items() if getattr(institution, key) != value}
    if not changes:
        return ()
    for key, value in changes.items():
        setattr(institution, key, value)
    institution.updated_at = ctx.clock.now()
    shown = dict(changes)
    if "wallet_logo" in shown:
        shown["wallet_logo"] = logo_digest(changes["wallet_logo"])
    await record(
        ctx,
        "policy:update",
        "institution",
        institution_id,
        institution_id=institution_id,
        changes=shown,
    )
    return tuple(changes)
