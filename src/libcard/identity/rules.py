"""Pure rules of strong login: what counts as strong, where a patron may be sent back to, and
who the broker says the person is."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from libcard.errors import InvalidInput
from libcard.sync.rules import registry_id_of

MAX_NEXT = 500  # a path of the portal; longer is not one of ours
MAX_SUBJECT = 255


def is_strong(acr: str | None, strong_values: Iterable[str]) -> bool:
    """Whether an assurance level (the ID token's acr) is one the institution counts as strong."""
    return acr is not None and acr in set(strong_values)


def is_local_path(target: str) -> bool:
    """A path on this site only. Browsers drop tabs and line breaks from a URL and read a
    backslash as a slash, so "/\\t/evil.example" would leave the site: anything but visible
    ASCII is refused, as are "//host" and "/\\host"."""
    if not target.startswith("/") or len(target) > MAX_NEXT:
        return False
    if any(not ("!" <= ch <= "~") for ch in target) or "\\" in target:
        return False
    return not target.startswith("//")


def next_path(target: str | None, default: str) -> str:
    """Where to go after the strong login: `default` when none is asked for; a target that is
    not a local path is refused, not silently replaced, so that a forged link shows."""
    if not target:
        return default
    if not is_local_path(target):
        raise InvalidInput("next_not_local", "The page to return to must be a page of this site.")
    return target


def subject_of(claims: Mapping[str, Any], claim: str) -> str:
    """The person's identifier at the broker, from the configured claim of the ID token."""
    value = claims.get(claim)
    if isinstance(value, int | float) and not isinstance(value, bool):
        value = str(value)
    if not isinstance(value, str) or not value.strip() or len(value) > MAX_SUBJECT:
        raise InvalidInput(
            "strong_login_no_subject",
            f"The identity broker's ID token has no usable {claim!r} claim.",
        )
    return value


def registry_id_in(claims: Mapping[str, Any], claim: str | None) -> str | None:
    """The student's registry id from the configured claim, or None: no claim configured, or
    none usable in this token (a person who is not a student has none). Read as the registry
    feed reads its column, so that the two meet."""
    if claim is None:
        return None
    value = claims.get(claim)
    if not isinstance(value, str | int) or isinstance(value, bool):
        return None
    return registry_id_of({"registry_id": value})
