"""The error hierarchy every service raises; each adapter maps it to its own medium."""

from __future__ import annotations

from typing import Any


class LibcardError(Exception):
    """A refusal a person or system can act on: a stable machine `code` and a message."""

    status = 400
    title = "Request refused"
    # A refusal that must still record what led to it (a wrong secret counted towards a rate
    # limit): the unit of work commits before the error travels on. Services raise these only
    # before they change anything else.
    keeps_effects = False

    def __init__(self, code: str, message: str, **details: Any) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.details = details


class InvalidInput(LibcardError):
    status = 422
    title = "Invalid input"


class NotFound(LibcardError):
    status = 404
    title = "Not found"


class Unauthenticated(LibcardError):
    status = 401
    title = "Authentication required"


class WrongSecret(Unauthenticated):
    """A wrong password, code or token; the failed attempt stays counted."""

    keeps_effects = True


class Forbidden(LibcardError):
    status = 403
    title = "Forbidden"


class Conflict(LibcardError):
    status = 409
    title = "Conflict"


class RuleViolation(LibcardError):
    """The request is well-formed but a library rule refuses it (blocked, locked, not activated)."""

    status = 409
    title = "Refused by a library rule"


class TooManyAttempts(LibcardError):
    status = 429
    title = "Too many attempts"
    keeps_effects = True
