"""Reading portal forms: plain strings, bounded, and only local redirect targets."""

from __future__ import annotations

from dataclasses import dataclass

from fastapi import Request

from libcard.errors import InvalidInput
from libcard.identity.rules import is_local_path

MAX_FIELD = 500  # no field of these forms is longer; more is not a person typing


@dataclass(frozen=True)
class Form:
    values: dict[str, str]

    def get(self, name: str) -> str:
        return self.values.get(name, "")

    def has(self, name: str) -> bool:
        return name in self.values


async def read_form(request: Request) -> Form:
    form = await request.form()
    values = {}
    for name, value in form.multi_items():
        if not isinstance(value, str):
            continue  # no portal form uploads files
        if len(value) > MAX_FIELD:
            raise InvalidInput("field_too_long", f"{name} is too long.")
        values[name] = value
    return Form(values)


def same(first: str, second: str, code: str) -> None:
    """The "type it again" check of a new password or PIN."""
    if first != second:
        raise InvalidInput(code, "The two entries are not the same.")


def local_path(target: str | None, default: str) -> str:
    """Only a path on this site: a `next` of //evil.example, https://… or one with a tab that
    a browser would drop goes to `default`."""
    if not target or not is_local_path(target):
        return default
    return target
