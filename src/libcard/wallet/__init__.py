"""Wallet passes of a library card: the Apple Wallet pass (docs/wallet.md)."""
