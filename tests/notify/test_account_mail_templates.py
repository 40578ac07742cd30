"""The mail about changes to an account — a PIN changed, a card lost, blocks placed and lifted, a
notice before collection, a payment receipt — rendered in Danish, German and English."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from libcard.kit.i18n import day, moment, money
from libcard.notify.service import TEMPLATES, render_mail

ACCOUNT_MAIL = (
    "pin_changed",
    "card_reported_lost",
    "block_placed",
    "block_lifted",
    "collection_notice",
    "payment_receipt",
)
LANGUAGES = ("da", "de", "en")
AT = datetime(2026, 3, 2, 13, 45, tzinfo=UTC)  # 14:45 in Copenhagen
OWED = {language: money(31250, "DKK", language) for language in LANGUAGES}  # "312,50 kr."


def values_for(template: str, language: str) -> dict[str, object]:
    """What the code that queues each mail hands in, formatted in `language`."""
    base: dict[str, object] = {"patron_name": "Karen Holm", "institution_name": "Nordby Library"}
    own: dict[str, dict[str, object]] = {
        "pin_changed": {"changed_at": moment(AT, language)},
        "card_reported_lost": {"card_number_end": "0012", "reported_at": moment(AT, language)},
        "block_placed": {"reason": "R-WHY", "lift": "L-LIFT"},
        "block_lifted": {"reason": "R-WHAT"},
        "collection_notice": {
            "amount": money(31250, "DKK", language),
            "deadline": day(AT, language),
            "pay_url": "https://library.example.org/login?next=/fees",
            "agency": "Nordisk Inkasso A/S",
        },
        "payment_receipt": {
            "amount": money(31250, "DKK", language),
            "paid_at": moment(AT, language),
            "method": "MobilePay",
            "reference": "PAY-7Q2K",
            "lines": [
                {"text": "Overdue: Sult", "amount": money(6250, "DKK", language)},
                {"text": "Replacement: Sult", "amount": money(25000, "DKK", language)},
            ],
            "receipt_url": "https://library.example.org/receipts/41",
        },
    }
    return {**base, **own[template]}


# The subject, and one line of the body, in each language: what a patron reads first.
EXPECTED: dict[str, dict[str, tuple[str, str]]] = {
    "pin_changed": {
        "en": (
            "The PIN of your library account at Nordby Library was changed",
            "If you changed it yourself, there is nothing more to do.",
        ),
        "da": (
            "PIN-koden til din lånerkonto hos Nordby Library er ændret",
            "Hvis du selv har ændret den, skal du ikke gøre mere.",
        ),
        "de": (
            "Die PIN Ihres Bibliothekskontos bei Nordby Library wurde geändert",
            "Wenn Sie sie selbst geändert haben, ist nichts weiter zu tun.",
        ),
    },
    "card_reported_lost": {
        "en": (
            "Your library card at Nordby Library was reported lost",
            "If you did not report the card lost, contact the library at once.",
        ),
        "da": (
            "Dit lånerkort hos Nordby Library er meldt mistet",
            "Hvis du ikke selv har meldt kortet mistet, så kontakt straks biblioteket.",
        ),
        "de": (
            "Ihr Bibliotheksausweis bei Nordby Library wurde als verloren gemeldet",
            "Wenn Sie die Karte nicht selbst als verloren gemeldet haben, wenden Sie sich "
            "sofort an die Bibliothek.",
        ),
    },
    "block_placed": {
        "en": ("Your library account at Nordby Library has been blocked", "What lifts the block:"),
        "da": ("Din lånerkonto hos Nordby Library er blevet spærret", "Sådan ophæves spærringen:"),
        "de": (
            "Ihr Bibliothekskonto bei Nordby Library wurde gesperrt",
            "So wird die Sperre aufgehoben:",
        ),
    },
    "block_lifted": {
        "en": (
            "A block on your library account at Nordby Library has been lifted",
            "A block on your library account at Nordby Library has been lifted:",
        ),
        "da": (
            "En spærring af din lånerkonto hos Nordby Library er ophævet",
            "En spærring af din lånerkonto hos Nordby Library er ophævet:",
        ),
        "de": (
            "Eine Sperre Ihres Bibliothekskontos bei Nordby Library wurde aufgehoben",
            "Eine Sperre Ihres Bibliothekskontos bei Nordby Library wurde aufgehoben:",
        ),
    },
    "collection_notice": {
        "en": (
            f"Please pay {OWED['en']} to Nordby Library by 2 March 2026",
            f"You owe {OWED['en']} to Nordby Library. Please pay by 2 March 2026.",
        ),
        "da": (
            f"Betal venligst {OWED['da']} til Nordby Library senest 2. marts 2026",
            f"Du skylder {OWED['da']} til Nordby Library. Betal venligst senest 2. marts 2026.",
        ),
        "de": (
            f"Bitte zahlen Sie {OWED['de']} an Nordby Library bis zum 2. März 2026",
            f"Sie schulden Nordby Library {OWED['de']}. Bitte zahlen Sie bis zum 2. März 2026.",
        ),
    },
    "payment_receipt": {
        "en": ("Receipt for your payment to Nordby Library", f"Amount paid: {OWED['en']}"),
        "da": ("Kvittering for din betaling til Nordby Library", f"Betalt beløb: {OWED['da']}"),
        "de": ("Quittung für Ihre Zahlung an Nordby Library", f"Gezahlter Betrag: {OWED['de']}"),
    },
}
GREETING = {"en": "Hello Karen Holm,", "da": "Hej Karen Holm,", "de": "Guten Tag Karen Holm,"}
REGARDS = {"en": "Kind regards", "da": "Venlig hilsen", "de": "Freundliche Grüße"}


@pytest.mark.parametrize("language", LANGUAGES)
@pytest.mark.parametrize("template", ACCOUNT_MAIL)
def test_each_mail_renders_in_each_language(template: str, language: str) -> None:
    values = values_for(template, language)
    mail = render_mail(template, language, values)
    subject, line = EXPECTED[template][language]
    lines = mail.body.splitlines()
    assert mail.subject == subject.replace("\xa0", " ")  # a subject has plain spaces only
    assert lines[0] == GREETING[language]
    assert line in lines
    assert lines[-2:] == [REGARDS[language], "Nordby Library"]
    for name, value in values.items():
        if isinstance(value, str) and name not in ("patron_name", "institution_name"):
            assert value in mail.body, name  # every value the caller gave shows
    assert "%(" not in mail.body
    assert "{" not in mail.body
    assert "  " not in mail.body


@pytest.mark.parametrize("template", ACCOUNT_MAIL)
def test_a_missing_value_is_refused(template: str) -> None:
    values = values_for(template, "en")
    assert set(values) == TEMPLATES[template].values
    for name in values:
        incomplete = {k: v for k, v in values.items() if k != name}
        with pytest.raises(ValueError, match=f"needs {name}"):
            render_mail(template, "en", incomplete)


def test_no_account_mail_asks_for_a_secret_or_a_whole_card_number() -> None:
    secrets = {"pin", "password", "code", "card_number", "reset_url", "activate_url"}
    for template in ACCOUNT_MAIL:
        assert TEMPLATES[template].values.isdisjoint(secrets), template


def test_the_pin_mail_tells_when_and_what_to_do_if_it_was_not_the_patron() -> None:
    body = render_mail("pin_changed", "en", values_for("pin_changed", "en")).body
    assert "was changed on 2 Mar 2026, 14:45:00." in body  # local time
    assert 'Change your password under "Password" at once' in body


def test_the_lost_card_mail_names_only_the_last_digits() -> None:
    body = render_mail("card_reported_lost", "en", values_for("card_reported_lost", "en")).body
    assert "Your library card ending in 0012 was reported lost or stolen on" in body
    # A health card's number is not kept: the mail then names no digits at all.
    values = {**values_for("card_reported_lost", "en"), "card_number_end": ""}
    body = render_mail("card_reported_lost", "en", values).body
    assert "Your library card was reported lost or stolen on 2 Mar 2026, 14:45:00." in body
    assert "ending in" not in body


def test_the_block_mails_carry_the_reason_and_what_lifts_it_on_lines_of_their_own() -> None:
    placed = render_mail("block_placed", "en", values_for("block_placed", "en")).body.splitlines()
    assert placed[placed.index("Why:") + 1] == "R-WHY"
    assert placed[placed.index("What lifts the block:") + 1] == "L-LIFT"
    lifted = render_mail("block_lifted", "en", values_for("block_lifted", "en")).body.splitlines()
    heading = "A block on your library account at Nordby Library has been lifted:"
    assert lifted[lifted.index(heading) + 1] == "R-WHAT"


def test_the_receipt_lists_what_the_payment_settled() -> None:
    values = values_for("payment_receipt", "da")
    lines = render_mail("payment_receipt", "da", values).body.splitlines()
    start = lines.index("Det dækker betalingen:")
    assert lines[start + 1 : start + 3] == [
        "- Overdue: Sult: 62,50\xa0kr.",
        "- Replacement: Sult: 250,00\xa0kr.",
    ]
    assert "Reference: PAY-7Q2K" in lines
    assert "https://library.example.org/receipts/41" in lines
    # A payment that settled no listed line leaves the heading out.
    body = render_mail("payment_receipt", "en", {**values, "lines": []}).body
    assert "What the payment settled:" not in body


def test_a_notice_without_an_agency_name_still_reads() -> None:
    values = {**values_for("collection_notice", "en"), "agency": ""}
    body = render_mail("collection_notice", "en", values).body
    assert "it will be handed to a collection agency, and you can no longer borrow" in body
    assert " ," not in body
