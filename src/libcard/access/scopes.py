"""API scopes: what a token may do. A token holds a list of these."""

from __future__ import annotations

from enum import StrEnum


class Scope(StrEnum):
    CARDS_STATUS = "cards:status"  # the borrowing decision: self-checkout, digital services
    PATRONS_READ = "patrons:read"
    PATRONS_WRITE = "patrons:write"
    CARDS_READ = "cards:read"
    CARDS_WRITE = "cards:write"
    ACTIVATION = "activation"  # issue activation codes, activate accounts
    PIN_VERIFY = "pin:verify"
    PIN_CHANGE = "pin:change"
    PIN_UNLOCK = "pin:unlock"
    PASSWORD = "password"  # noqa: S105 — a scope name, not a secret  # change and reset passwords
    FEES_READ = "fees:read"
    FEES_WRITE = "fees:write"  # charge, waive, refund
    PAYMENTS_WRITE = "payments:write"
    BLOCKS_READ = "blocks:read"
    BLOCKS_WRITE = "blocks:write"
    ITEMS_READ = "items:read"
    ITEMS_WRITE = "items:write"  # create, change and import items
    LOANS_READ = "loans:read"
    LOANS_WRITE = "loans:write"  # check out, check in, renew
    COLLECTION = "collection"  # a collection agency: its cases, acknowledgements, reports
    AUDIT_READ = "audit:read"
    POLICY_READ = "policy:read"
    POLICY_WRITE = "policy:write"
    TOKENS_WRITE = "tokens:write"
    ME = "me"  # a patron's own app: their e-card, and nothing of anyone else
    REGISTRY = "registry"  # the student registry's feed: create, update and expire students
    SCIM = "scim"  # the staff identity portal's SCIM service: employees
    CAMPUS_CARD = "campus_card"  # the campus card system: employee badges lost, blocked, replaced


ALL_SCOPES = frozenset(Scope)
