"""Debt handed to a collection agency."""
