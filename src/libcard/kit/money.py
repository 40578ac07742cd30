"""Money is an integer of minor units plus an ISO 4217 currency. Never floats."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import MAX_EMAX, MIN_EMIN, Context, Decimal, Inexact, InvalidOperation

from libcard.errors import InvalidInput

# Minor-unit exponents of the currencies libraries we serve use; ISO 4217.
CURRENCY_EXPONENTS: dict[str, int] = {
    "DKK": 2,
    "EUR": 2,
    "SEK": 2,
    "NOK": 2,
    "ISK": 0,
    "GBP": 2,
    "CHF": 2,
    "USD": 2,
    "PLN": 2,
}


def check_currency(code: str) -> str:
    if code not in CURRENCY_EXPONENTS:
        known = ", ".join(sorted(CURRENCY_EXPONENTS))
        raise InvalidInput("unknown_currency", f"Unknown currency {code!r}; use one of {known}.")
    return code


@dataclass(frozen=True, order=True)
class Money:
    minor: int
    currency: str

    def __str__(self) -> str:
        return f"{format_minor(self.minor, self.currency)} {self.currency}"


def format_minor(minor: int, currency: str) -> str:
    """225_00 DKK → '225.00' (a plain decimal string; locale formatting is the adapter's job)."""
    exponent = CURRENCY_EXPONENTS[currency]
    if exponent == 0:
        return str(minor)
    sign = "-" if minor < 0 else ""
    whole, frac = divmod(abs(minor), 10**exponent)
    return f"{sign}{whole}.{frac:0{exponent}d}"


_EXACT = Context(prec=64, Emax=MAX_EMAX, Emin=MIN_EMIN, traps=[Inexact])


def parse_amount(text: str, currency: str) -> int:
    """'225.00' DKK → 22500. Refuses more decimals than the currency has."""
    exponent = CURRENCY_EXPONENTS[check_currency(currency)]
    try:
        value = Decimal(text.strip())
    except InvalidOperation:
        raise InvalidInput("invalid_amount", f"{text!r} is not an amount.") from None
    # Beyond 10^15 units no fee is meant, and int() of '1e999999' alone takes half a minute.
    if not value.is_finite() or (value and value.adjusted() >= 15):
        raise InvalidInput("invalid_amount", f"{text!r} is not an amount.")
    try:
        # Exact, never rounded to the default 28 digits: '…000.001' must not pass as '…000'.
        scaled = value.scaleb(exponent, _EXACT)
        whole = scaled == scaled.to_integral_value()
    except Inexact:
        whole = False
    if not whole:
        raise InvalidInput(
            "invalid_amount", f"{currency} amounts have at most {exponent} decimals: {text!r}."
        )
    return int(scaled)
