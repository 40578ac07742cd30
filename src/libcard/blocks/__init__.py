"""Blocks: derived from the ledger and collection cases, or placed by a person or an event."""
