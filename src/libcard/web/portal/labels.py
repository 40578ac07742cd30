"""Names of states, kinds and actions as patrons read them; translated where shown."""

from __future__ import annotations

from libcard.kit.i18n import N_

CARD_STATES = {
    "active": N_("Active"),
    "not_activated": N_("Not activated"),
    "lost": N_("Reported lost"),
    "stolen": N_("Reported stolen"),
    "replaced": N_("Replaced"),
    "expired": N_("Expired"),
}
CARD_KINDS = {
    "physical": N_("Library card"),
    "ecard": N_("E-card"),
    "student_id": N_("Student ID card"),
    "employee_badge": N_("Employee badge"),
    "health_card": N_("Health insurance card"),
}
ACTIONS = {
    "borrow": N_("borrowing"),
    "renew": N_("renewing loans"),
    "hold": N_("placing holds"),
    "digital": N_("digital services"),
}
FEE_TYPES = {
    "overdue": N_("Overdue fine"),
    "replacement": N_("Replacement of lost or damaged material"),
    "card_replacement": N_("New library card"),
    "processing": N_("Processing fee"),
    "collection": N_("Collection fee"),
    "other": N_("Other fee"),
}
FEE_STATES = {
    "open": N_("Open"),
    "partly_paid": N_("Partly paid"),
    "paid": N_("Paid"),
    "waived": N_("Waived"),
}
LABELS = {
    "card_states": CARD_STATES,
    "card_kinds": CARD_KINDS,
    "actions": ACTIONS,
    "fee_types": FEE_TYPES,
    "fee_states": FEE_STATES,
}
