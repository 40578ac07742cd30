"""Tools for development and tests that ship with libcard but are never used in production."""
