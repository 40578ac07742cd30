"""Paying fees online: checkouts with a provider, webhooks and reconciliation."""
