"""Why a card itself is refused, and what to do, in Danish, German and English (R1, R10)."""

from __future__ import annotations

from libcard.kit.i18n import Text

REFUSALS: dict[str, Text] = {
    "card_not_activated": {
        "da": "Kortet er ikke aktiveret endnu. Vælg »Aktivér nu« på bibliotekets login-side og "
        "indtast kortnummeret og aktiveringskoden fra din e-mail eller dit brev.",
        "de": "Die Karte ist noch nicht aktiviert. Wählen Sie »Jetzt aktivieren« auf der "
        "Anmeldeseite der Bibliothek und geben Sie die Kartennummer und den Aktivierungscode "
        "aus Ihrer E-Mail oder Ihrem Brief ein.",
        "en": "This card is not activated yet. Choose 'Activate now' on the library's login page "
        "and enter the card number and the activation code from your e-mail or letter.",
    },
    "card_lost": {
        "da": "Kortet er meldt mistet og kan ikke bruges. Brug dit e-kort, eller få et nyt kort "
        "ved udlånsskranken.",
        "de": "Die Karte wurde als verloren gemeldet und kann nicht benutzt werden. Nutzen Sie "
        "Ihre E-Karte oder holen Sie an der Ausleihtheke eine neue Karte.",
        "en": "This card has been reported lost and cannot be used. Use your e-card or get a new "
        "card at the lending desk.",
    },
    "card_stolen": {
        "da": "Kortet er meldt stjålet og kan ikke bruges. Kontakt udlånsskranken.",
        "de": "Die Karte wurde als gestohlen gemeldet und kann nicht benutzt werden. Wenden Sie "
        "sich an die Ausleihtheke.",
        "en": "This card has been reported stolen and cannot be used. Contact the lending desk.",
    },
    "card_replaced": {
        "da": "Kortet er erstattet af et nyere kort. Brug det nye kort eller dit e-kort.",
        "de": "Die Karte wurde durch eine neuere ersetzt. Nutzen Sie die neue Karte oder Ihre "
        "E-Karte.",
        "en": "This card has been replaced by a newer one. Use the new card or your e-card.",
    },
    "card_expired": {
        "da": "Kortet er udløbet. Få det fornyet ved udlånsskranken.",
        "de": "Die Karte ist abgelaufen. Lassen Sie sie an der Ausleihtheke verlängern.",
        "en": "This card has expired. Have it renewed at the lending desk.",
    },
    "account_closed": {
        "da": "Kontoen er lukket. Kontakt udlånsskranken.",
        "de": "Das Konto ist geschlossen. Wenden Sie sich an die Ausleihtheke.",
        "en": "This account is closed. Contact the lending desk.",
    },
    "account_expired": {
        "da": "Kontoen er udløbet. Kontakt udlånsskranken for at forny den.",
        "de": "Das Konto ist abgelaufen. Wenden Sie sich zur Verlängerung an die Ausleihtheke.",
        "en": "This account has expired. Contact the lending desk to renew it.",
    },
}
