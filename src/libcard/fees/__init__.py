"""Fees and their ledger of actions: charge, payment, waiver, refund."""
