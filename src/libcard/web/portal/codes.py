"""The e-card's number as Code 128 and as QR, both inline SVG: crisp at any size, no request.

python-barcode chooses Code 128's code sets and check symbol; segno makes the QR code. The
Code 128 drawing is ours so that it scales by its viewBox like the QR code does.
"""

from __future__ import annotations

import itertools

import barcode
import segno
from markupsafe import Markup, escape

QUIET_ZONE = 10  # modules of white either side; scanners need it (ISO/IEC 15417)
BAR_HEIGHT = 50  # modules


def code128_svg(number: str, label: str) -> Markup:
    modules = barcode.get("code128", number).build()[0]
    width = len(modules) + 2 * QUIET_ZONE
    bars = []
    x = QUIET_ZONE
    for value, run in itertools.groupby(modules):
        length = len(list(run))
        if value == "1":
            bars.append(f'<rect x="{x}" y="0" width="{length}" height="{BAR_HEIGHT}"/>')
        x += length
    return Markup(  # noqa: S704 — numbers we drew, and our escaped label
        f'<svg class="code128" role="img" aria-label="{escape(label)}" '
        f'viewBox="0 0 {width} {BAR_HEIGHT}" preserveAspectRatio="none" '
        f'shape-rendering="crispEdges" xmlns="http://www.w3.org/2000/svg">'
        f'<rect width="{width}" height="{BAR_HEIGHT}" fill="#fff"/>'
        f'<g fill="#000">{"".join(bars)}</g></svg>'
    )


def qr_svg(number: str, label: str) -> Markup:
    code = segno.make_qr(number, error="m")
    inner = code.svg_inline(scale=1, border=4, omitsize=True, dark="#000", light="#fff")
    # segno's root element gets our class and accessible name; its drawing stays as made.
    opening = (
        f'<svg class="qr" role="img" aria-label="{escape(label)}" shape-rendering="crispEdges" '
    )
    inner = inner.replace(' class="segno"', "", 1).replace("<svg ", opening, 1)
    return Markup(inner)  # noqa: S704 — segno's SVG of digits, and our escaped label
