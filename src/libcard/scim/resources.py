"""What the SCIM service publishes: the User resource as libcard keeps an employee, and the
service provider configuration. Only attributes libcard stores are in the schema, so a client
reading /Schemas knows that anything else would be dropped (RFC 7643 §2: a service provider
supports a subset of the core schema and says which)."""

from __future__ import annotations

from typing import Annotated, Any, ClassVar

from pydantic import EmailStr, Field
from scim2_models import (
    URN,
    AuthenticationScheme,
    Bulk,
    ChangePassword,
    ComplexAttribute,
    ETag,
    ExtensibleStringEnum,
    External,
    Filter,
    Mutability,
    Patch,
    Reference,
    Required,
    Resource,
    ResourceType,
    ScimProvider,
    ServiceProviderConfig,
    Sort,
    Uniqueness,
)

USER_SCHEMA = "urn:ietf:params:scim:schemas:core:2.0:User"
# A page of /Users holds at most this many employees; a larger count is cut down to it.
MAX_RESULTS = 200


class EmployeeName(ComplexAttribute):
    """The name as libcard keeps it: given and family name (displayName joins them)."""

    family_name: Annotated[str | None, Required.true] = None
    given_name: Annotated[str | None, Required.true] = None


class EmployeeEmail(ComplexAttribute):
    class Type(ExtensibleStringEnum):
        work = "work"
        home = "home"
        other = "other"

    value: EmailStr | None = None
    type: Type | None = None
    primary: bool | None = None


class EmployeePhone(ComplexAttribute):
    class Type(ExtensibleStringEnum):
        work = "work"
        home = "home"
        mobile = "mobile"
        other = "other"

    value: str | None = None
    type: Type | None = None
    primary: bool | None = None


class EmployeeAddress(ComplexAttribute):
    class Type(ExtensibleStringEnum):
        work = "work"
        home = "home"
        other = "other"

    street_address: str | None = None
    locality: str | None = None
    postal_code: Annotated[str | None, Field(max_length=16, examples=["2200", "8000", "24937"])] = (
        None
    )
    # A two-letter ISO 3166 code, as libcard stores countries (RFC 7643 §4.1.2 suggests it).
    country: Annotated[str | None, Field(examples=["DK", "DE", "SE"])] = None
    type: Type | None = None
    primary: bool | None = None


class User(Resource[Any]):
    """An employee (patron group `employee`) as the staff identity portal provisions them."""

    __schema__ = URN(USER_SCHEMA)

    # The institutional e-mail address (R9): unique in the institution, compared without case.
    user_name: Annotated[str | None, Uniqueness.server, Required.true] = None
    name: Annotated[EmployeeName | None, Required.true] = None
    Name: ClassVar[type[ComplexAttribute]] = EmployeeName
    display_name: Annotated[str | None, Mutability.read_only] = None
    active: bool | None = None
    emails: list[EmployeeEmail] | None = None
    Emails: ClassVar[type[ComplexAttribute]] = EmployeeEmail
    phone_numbers: list[EmployeePhone] | None = None
    PhoneNumbers: ClassVar[type[ComplexAttribute]] = EmployeePhone
    addresses: list[EmployeeAddress] | None = None
    Addresses: ClassVar[type[ComplexAttribute]] = EmployeeAddress


BEARER = AuthenticationScheme(
    type=AuthenticationScheme.Type.oauthbearertoken,
    name="libcard API token",
    description="An API token of scope `scim`: `Authorization: Bearer lct_…`",
    spec_uri=Reference[External]("https://datatracker.ietf.org/doc/html/rfc6750"),
    primary=True,
)


def service_provider_config() -> ServiceProviderConfig:
    return ServiceProviderConfig(
        documentation_uri=None,
        patch=Patch(supported=True),
        bulk=Bulk(supported=False, max_operations=0, max_payload_size=0),
        filter=Filter(supported=True, max_results=MAX_RESULTS),
        change_password=ChangePassword(supported=False),
        sort=Sort(supported=True),
        etag=ETag(supported=True),
        authentication_schemes=[BEARER],
    )


def provider() -> ScimProvider:
    user_type = ResourceType(
        id="User",
        name="User",
        endpoint="/Users",
        description="Employees, provisioned by the staff identity portal",
        schema_=URN(USER_SCHEMA),
    )
    return ScimProvider(models=[User], resource_types=[user_type], config=service_provider_config())
