"""All API routes under /api/v1."""

from __future__ import annotations

from fastapi import APIRouter

from libcard.web.api import (
    audit_routes,
    block_routes,
    campus_routes,
    card_routes,
    collection_routes,
    fee_routes,
    item_routes,
    loan_routes,
    me_routes,
    me_sso_routes,
    patron_routes,
    payment_routes,
    policy_routes,
    registry_routes,
)


def build() -> APIRouter:
    router = APIRouter()
    for module in (
        card_routes,
        patron_routes,
        fee_routes,
        block_routes,
        item_routes,
        loan_routes,
        policy_routes,
        collection_routes,
        payment_routes,
        audit_routes,
        me_routes,
        me_sso_routes,
        campus_routes,
        registry_routes,
    ):
        router.include_router(module.router)
    return router
