"""Institutions, patron groups and everything they configure."""
