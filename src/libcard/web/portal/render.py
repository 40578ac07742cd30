"""Rendering portal pages: one Jinja2 environment per language, errors in the page's words."""

from __future__ import annotations

from datetime import datetime
from functools import cache
from pathlib import Path
from typing import Any
from urllib.parse import quote

from fastapi.responses import HTMLResponse, Response
from jinja2 import Environment, FileSystemLoader, select_autoescape

from libcard.errors import LibcardError
from libcard.kit.i18n import N_, SUPPORTED, day, moment, money, translate, translations
from libcard.patrons.rules import MAX_PASSWORD_LENGTH, MIN_PASSWORD_LENGTH
from libcard.payments.providers import errors as provider_errors
from libcard.web.browser import CsrfToken
from libcard.web.browser import redirect as redirect  # the routes redirect through here
from libcard.web.portal.labels import ACTIONS, LABELS
from libcard.web.portal.visit import Visit

TEMPLATES = Path(__file__).resolve().parent.parent / "templates"
LANGUAGE_NAMES = {"da": "Dansk", "de": "Deutsch", "en": "English"}

# What the patron reads for each error code; codes not here get GENERIC. The service's own
# English message is for the API and the logs, these are for people, in their language.
MESSAGES: dict[str, str] = {
    "login_failed": N_("The card number, e-mail or password is wrong."),
    "too_many_attempts": N_("Too many failed attempts. Wait a quarter of an hour, then try again."),
    "csrf_failed": N_("This form has expired. Reload the page and try again."),
    "login_required": N_("Log in to see this page."),
    "password_too_short": N_("A password has at least %(min)s characters."),
    "password_too_long": N_("A password has at most %(max)s characters."),
    "password_common": N_("This password is too common; choose one that is harder to guess."),
    "password_weak": N_(
        "This password is too easy to guess. Use a longer one, for example a few unrelated words."
    ),
    "password_personal": N_("A password must not contain your name or card number."),
    "password_mismatch": N_("The two passwords are not the same."),
    "password_wrong": N_("The password is wrong."),
    "pin_format": N_("A PIN is 4 to 8 digits."),
    "pin_trivial": N_("This PIN is too easy to guess, like 0000 or 1234. Choose another."),
    "pin_mismatch": N_("The two PINs are not the same."),
    "activation_code_wrong": N_("The card number or activation code is wrong."),
    "card_not_found": N_("The card number or activation code is wrong."),
    "card_number_format": N_("This is not a card number of the library. Check what you typed."),
    "card_number_check_digit": N_(
        "The card number's check digit is wrong; check for a mistyped digit."
    ),
    "activation_code_used": N_("This activation code has been used already. Log in instead."),
    "activation_code_expired": N_(
        "This activation code has expired. Ask the library for a new one."
    ),
    "already_activated": N_(
        "This account is activated already. Log in with your password, or use "
        "'I have forgotten my password'."
    ),
    "card_lost": N_("This card has been reported lost. Use another card of yours."),
    "card_stolen": N_("This card has been reported stolen. Contact the lending desk."),
    "card_replaced": N_("This card has been replaced. Use the new card."),
    "card_expired": N_("This card has expired. Contact the lending desk."),
    "card_active": N_("This card is active already."),
    "account_closed": N_("This account is closed. Contact the lending desk."),
    "reset_link_invalid": N_(
        "This link has expired or has been used. Ask for a new one on the login page."
    ),
    "email_format": N_("This is not an e-mail address."),
    "email_in_use": N_("Another account of this library uses this e-mail."),
    "field_not_yours": N_("You cannot change this field here."),
    "field_too_long": N_("This text is too long."),
    "field_required": N_("This field is required."),
    "country_format": N_("A country is a two-letter code, like DK or DE."),
    "language": N_("Choose Danish, German or English."),
    "card_state_transition": N_("This card cannot be reported lost; it is no longer in use."),
    "confirm_required": N_("Tick the box to confirm."),
    "card_required": N_("Choose the card that is lost."),
    "card_not_yours": N_("This is not one of your cards."),
    "birth_date_format": N_("Write the date of birth as YYYY-MM-DD."),
    provider_errors.UNAVAILABLE: provider_errors.UNAVAILABLE_TEXT,
    provider_errors.REFUSED: provider_errors.REFUSED_TEXT,
}
GENERIC = N_("Something went wrong. Please try again.")
VALUES = {"min": MIN_PASSWORD_LENGTH, "max": MAX_PASSWORD_LENGTH}


def message_for(error: LibcardError, language: str) -> str:
    text = MESSAGES.get(error.code, GENERIC)
    return translate(language, text, **{k: v for k, v in VALUES.items() if f"%({k})" in text})


@cache
def environment(language: str) -> Environment:
    env = Environment(
        loader=FileSystemLoader(TEMPLATES),
        autoescape=select_autoescape(["html"]),
        extensions=["jinja2.ext.i18n"],
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.install_gettext_translations(translations(language), newstyle=True)  # type: ignore[attr-defined]
    env.globals.update(language=language, language_names=LANGUAGE_NAMES, languages=SUPPORTED)

    def money_filter(minor: int, currency: str) -> str:
        return money(minor, currency, language)

    def day_filter(at: datetime | None, timezone: str = "Europe/Copenhagen") -> str:
        return day(at, language, timezone) if at else ""

    def moment_filter(at: datetime | None, timezone: str = "Europe/Copenhagen") -> str:
        return moment(at, language, timezone) if at else ""

    def action_label(action: str) -> str:
        return translate(language, ACTIONS[action])

    env.globals["labels"] = LABELS
    env.filters.update(
        money=money_filter, day=day_filter, moment=moment_filter, action_label=action_label
    )
    return env


def render(visit: Visit, template: str, *, status: int = 200, **values: Any) -> Response:
    page = environment(visit.language).get_template(template)
    body = page.render(
        csrf=CsrfToken(visit),
        logged_in=visit.session is not None,
        here=visit.request.url.path,
        here_quoted=quote(visit.request.url.path, safe="/"),
        **values,
    )
    return visit.apply_cookies(HTMLResponse(body, status_code=status))


def form_error(visit: Visit, template: str, error: LibcardError, **values: Any) -> Response:
    """The form again, with what went wrong in the page's language above it."""
    return render(
        visit,
        template,
        status=error.status,
        error=message_for(error, visit.language),
        error_code=error.code,
        **values,
    )


def error_page(visit: Visit, error: LibcardError) -> Response:
    return render(
        visit, "portal/error.html", status=error.status, message=message_for(error, visit.language)
    )
