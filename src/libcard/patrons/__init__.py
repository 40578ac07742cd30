"""Patron accounts, personal data and who owns each field, activation, passwords."""
