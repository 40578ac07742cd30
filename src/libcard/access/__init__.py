"""API tokens and their scopes."""
