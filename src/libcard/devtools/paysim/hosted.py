"""The hosted payment page of each simulated payment: what MobilePay's landing page and QuickPay's
payment window are to a patron, reduced to three buttons (Approve, Decline, Abandon). The choice
sends the webhook, then the browser goes back to libcard."""

from __future__ import annotations

from html import escape
from urllib.parse import parse_qs

from starlette.requests import Request
from starlette.responses import HTMLResponse, RedirectResponse, Response
from starlette.routing import Route

from libcard.devtools.paysim import mobilepay_api, quickpay_api
from libcard.devtools.paysim.common import simulation
from libcard.devtools.paysim.state import CARD, MOBILEPAY, Simulation
from libcard.kit.money import CURRENCY_EXPONENTS

CHOICES = ("approve", "decline", "abandon")
TITLES = {MOBILEPAY: "MobilePay", CARD: "Card payment"}

PAGE = """<!doctype html>
<html lang="en">
<head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>{title} (simulated)</title></head>
<body>
<main>
<h1>{title} (simulated)</h1>
<p>This page stands in for the payment provider. No money moves.</p>
<dl>
<dt>Amount</dt><dd data-testid="amount">{amount}</dd>
<dt>For</dt><dd data-testid="description">{description}</dd>
<dt>Reference</dt><dd data-testid="reference">{reference}</dd>
</dl>
{body}
</main>
</body>
</html>
"""

FORM = """<form method="post" action="{action}">
<button type="submit" name="choice" value="approve">Approve</button>
<button type="submit" name="choice" value="decline">Decline</button>
<button type="submit" name="choice" value="abandon">Abandon</button>
</form>"""

FINISHED = """<p role="status">This payment is finished ({state}).</p>
<p><a href="{back}">Back to the library</a></p>"""


def _amount(minor: int, currency: str) -> str:
    exponent = CURRENCY_EXPONENTS.get(currency, 2)
    return f"{minor / 10**exponent:.{exponent}f} {currency}"


def _page(provider: str, key: str, sim: Simulation) -> tuple[str, bool] | None:
    """The page, and whether the payment still waits for the patron."""
    if provider == MOBILEPAY and key in sim.vipps:
        vipps = sim.vipps[key]
        open_ = vipps.state == "CREATED"
        fields = (_amount(vipps.value, vipps.currency), vipps.description, vipps.reference)
        state, back = vipps.state, vipps.return_url
    elif provider == CARD and key.isdigit() and int(key) in sim.quickpay:
        card = sim.quickpay[int(key)]
        link = card.link or {}
        open_ = card.state == "initial" and bool(link)
        description = str(card.variables.get("description", ""))
        fields = (_amount(int(link.get("amount") or 0), card.currency), description, card.order_id)
        state, back = card.state, str(link.get("continue_url") or "/")
    else:
        return None
    body = (
        FORM.format(action=f"/pay/{provider}/{escape(key)}")
        if open_
        else FINISHED.format(state=escape(state), back=escape(back))
    )
    html = PAGE.format(
        title=TITLES[provider],
        amount=escape(fields[0]),
        description=escape(fields[1]),
        reference=escape(fields[2]),
        body=body,
    )
    return html, open_


async def show(request: Request) -> Response:
    provider, key = request.path_params["provider"], request.path_params["key"]
    page = _page(provider, key, simulation(request))
    if page is None:
        return HTMLResponse("<h1>No such payment</h1>", status_code=404)
    return HTMLResponse(page[0])


async def decide(request: Request) -> Response:
    sim = simulation(request)
    provider, key = request.path_params["provider"], request.path_params["key"]
    form = parse_qs((await request.body()).decode("utf-8", "replace"))
    choice = (form.get("choice") or [""])[0]
    if choice not in CHOICES:
        return HTMLResponse("<h1>Choose Approve, Decline or Abandon</h1>", status_code=400)
    back = await apply(sim, provider, key, choice)
    if back is None:
        page = _page(provider, key, sim)
        if page is None:
            return HTMLResponse("<h1>No such payment</h1>", status_code=404)
        return HTMLResponse(page[0], status_code=409)
    return RedirectResponse(back, status_code=303)


async def apply(sim: Simulation, provider: str, key: str, choice: str) -> str | None:
    """Carry out the patron's choice; the address to send the browser back to, or None when
    the payment is unknown or no longer waits for a choice."""
    if provider == MOBILEPAY and key in sim.vipps:
        payment = sim.vipps[key]
        if not await mobilepay_api.choose(sim, payment, choice):
            return None
        return payment.return_url
    if provider == CARD and key.isdigit() and int(key) in sim.quickpay:
        card = sim.quickpay[int(key)]
        if not await quickpay_api.choose(sim, card, choice):
            return None
        return quickpay_api.return_url(card, choice) or "/"
    return None


routes = [
    Route("/pay/{provider}/{key}", show, methods=["GET"]),
    Route("/pay/{provider}/{key}", decide, methods=["POST"]),
]
