"""An employee between libcard and SCIM: a patron as a User resource, a User resource as the
patron's columns. Pure: plain values in, plain values out.

userName is the institutional e-mail (R9), externalId the identity portal's own key
(`identity_id`). The work e-mail is the institutional e-mail again; any other e-mail is the
private one (`email`). libcard keeps one phone number and one postal address."""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from scim2_models import InvalidValueException, Meta

from libcard.patrons.models import Patron
from libcard.scim.resources import (
    EmployeeAddress,
    EmployeeEmail,
    EmployeeName,
    EmployeePhone,
    User,
)

RESOURCE_TYPE = "User"
IDENTITY_ID_MAX = 64  # patron.identity_id


def is_active(patron: Patron, now: datetime) -> bool:
    """An employee is active until their account expires or is closed."""
    if patron.closed_at is not None:
        return False
    return patron.expires_at is None or patron.expires_at > now


def to_resource(patron: Patron, now: datetime) -> User:
    user = User(
        id=str(patron.id),
        external_id=patron.identity_id,
        user_name=patron.institutional_email,
        name=EmployeeName(
            given_name=patron.first_name,
            family_name=patron.last_name,
        ),
        display_name=f"{patron.first_name} {patron.last_name}",
        active=is_active(patron, now),
    )
    emails = []
    if patron.institutional_email:
        emails.append(
            EmployeeEmail(
                value=patron.institutional_email, type=EmployeeEmail.Type.work, primary=True
            )
        )
    if patron.email:
        emails.append(EmployeeEmail(value=patron.email, type=EmployeeEmail.Type.home))
    user.emails = emails or None
    if patron.phone:
        user.phone_numbers = [EmployeePhone(value=patron.phone)]
    if any((patron.street, patron.postal_code, patron.city, patron.country)):
        user.addresses = [
            EmployeeAddress(
                street_address=patron.street,
                postal_code=patron.postal_code,
                locality=patron.city,
                country=patron.country,
            )
        ]
    user.meta = Meta(
        resource_type=RESOURCE_TYPE,
        created=patron.created_at,
        last_modified=patron.updated_at,
        version=version_of(user),
    )
    return user


def version_of(user: User) -> str:
    """A weak ETag: a digest of what the resource says, so it changes exactly when that does
    (a change of `updated_at` alone, from a field SCIM does not show, leaves it)."""
    body = user.model_dump(exclude={"meta"})
    digest = hashlib.sha256(json.dumps(body, sort_keys=True, default=str).encode()).hexdigest()
    return f'W/"{digest[:20]}"'


@dataclass(frozen=True)
class Employee:
    """What a User resource asks libcard to store."""

    columns: dict[str, Any]  # patron columns, for patrons.service (ownership checked there)
    identity_id: str | None
    active: bool | None  # None: not said, so unchanged (a new employee is active)


def from_resource(user: User) -> Employee:
    """The patron columns a User resource stands for. Refuses what libcard cannot keep
    (a second phone number, a work e-mail that is not the userName) instead of dropping it."""
    if not user.user_name or not user.user_name.strip():
        raise InvalidValueException(detail="userName (the institutional e-mail) is required.")
    institutional = user.user_name.strip()
    name = user.name if isinstance(user.name, EmployeeName) else None
    columns: dict[str, Any] = {
        "institutional_email": institutional,
        "first_name": name.given_name if name else None,
        "last_name": name.family_name if name else None,
        "email": _private_email(user.emails or []),
        "phone": _single(user.phone_numbers or [], "phoneNumbers", "phone number"),
        **_address(user.addresses or []),
    }
    identity_id = user.external_id.strip() if user.external_id else None
    if identity_id is not None and len(identity_id) > IDENTITY_ID_MAX:
        raise InvalidValueException(detail=f"externalId has at most {IDENTITY_ID_MAX} characters.")
    return Employee(columns=columns, identity_id=identity_id or None, active=user.active)


def _private_email(emails: list[EmployeeEmail]) -> str | None:
    private: list[str] = []
    for email in emails:
        if not email.value:
            continue
        if email.type == EmployeeEmail.Type.work:
            # The work e-mail is the institutional one, which userName sets; a portal may
            # send its mail attribute here, which libcard has no second place for.
            continue
        private.append(email.value)
    if len(set(private)) > 1:
        raise InvalidValueException(
            detail="libcard keeps one private e-mail besides the work e-mail."
        )
    return private[0] if private else None


def _single(phones: list[EmployeePhone], attribute: str, what: str) -> str | None:
    values = [phone.value for phone in phones if phone.value]
    if len(set(values)) > 1:
        raise InvalidValueException(detail=f"libcard keeps one {what} ({attribute}).")
    return values[0] if values else None


def _address(addresses: list[EmployeeAddress]) -> dict[str, Any]:
    if len(addresses) > 1:
        raise InvalidValueException(detail="libcard keeps one postal address (addresses).")
    address = addresses[0] if addresses else EmployeeAddress()
    return {
        "street": address.street_address,
        "postal_code": address.postal_code,
        "city": address.locality,
        "country": address.country,
    }
