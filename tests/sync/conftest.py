"""The API tests' client fixture, for the registry route's tests."""

from tests.api.conftest import api

__all__ = ["api"]
