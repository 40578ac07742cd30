"""Employees as scim2-server's storage: reads and writes patrons through libcard's services,
inside the unit of work the application opened for the request (`bind`)."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager
from contextvars import ContextVar
from typing import Any, cast

from scim2_models import (
    ConflictException,
    ForbiddenException,
    InvalidValueException,
    MutabilityException,
    NotFoundException,
    PreconditionFailedException,
    Resource,
    ResourceType,
    ResponseParameters,
    SCIMException,
    ScimFilter,
    SearchRequest,
    UnauthorizedException,
    UniquenessException,
)
from scim2_server.storage import AsyncScimStorage, SearchPage
from sqlalchemy import select

from libcard.accounts.service import register_patron
from libcard.audit.service import record_on
from libcard.context import Ctx
from libcard.errors import (
    Conflict,
    Forbidden,
    InvalidInput,
    LibcardError,
    NotFound,
    Unauthenticated,
)
from libcard.patrons.models import Patron
from libcard.patrons.service import get_patron_for_update, update_patron
from libcard.policy.service import group_by_code
from libcard.scim.mapping import from_resource, is_active, to_resource
from libcard.scim.resources import User

EMPLOYEE_GROUP = "employee"

_unit: ContextVar[Ctx] = ContextVar("scim_unit")


@contextmanager
def bind(ctx: Ctx) -> Iterator[None]:
    """Make `ctx` (the request's unit of work, as the token's actor) the storage's."""
    token = _unit.set(ctx)
    try:
        yield
    finally:
        _unit.reset(token)


def scim_error(error: LibcardError) -> SCIMException:
    """A libcard refusal as the SCIM error a client understands (RFC 7644 §3.12)."""
    detail = error.message
    if isinstance(error, InvalidInput):
        return InvalidValueException(detail=detail)
    if isinstance(error, Forbidden) and error.code == "field_not_yours":
        # A field the policy gives another owner: not the identity portal's to change.
        return MutabilityException(detail=detail)
    if isinstance(error, Forbidden):
        return ForbiddenException(detail=detail)
    if isinstance(error, Conflict) and error.code in ("email_in_use", "patron_exists"):
        return UniquenessException(detail=detail)
    if isinstance(error, NotFound):
        return NotFoundException(detail=detail)
    if isinstance(error, Unauthenticated):
        return UnauthorizedException(detail=detail)
    return ConflictException(detail=detail)


class EmployeeStorage(AsyncScimStorage):
    """The employees of the token's institution. Never deletes a patron: a DELETE expires
    the account, as `active: false` does (loans, fees and the audit trail stay)."""

    def __init__(self, public_url: str) -> None:
        self.public_url = public_url

    @property
    def ctx(self) -> Ctx:
        return _unit.get()

    @asynccontextmanager
    async def operation(self) -> AsyncIterator[None]:
        try:
            yield
        except LibcardError as error:
            raise scim_error(error) from error

    async def _institution(self) -> int:
        institution_id = self.ctx.actor.institution_id
        if institution_id is None:  # the application refuses such tokens before this
            raise ForbiddenException(detail="A SCIM token belongs to one institution.")
        return institution_id

    async def _group_id(self) -> int:
        return (await group_by_code(self.ctx, await self._institution(), EMPLOYEE_GROUP)).id

    async def _employee(self, resource_id: str, *, lock: bool = False) -> Patron:
        """The employee with this id in the token's institution; anything else is not there."""
        missing = NotFoundException(detail=f"No User with id {resource_id!r}.")
        if not resource_id.isdigit() or len(resource_id) > 18:
            raise missing
        try:
            patron = await (
                get_patron_for_update(self.ctx, int(resource_id))
                if lock
                else self._get(int(resource_id))
            )
        except NotFound:
            raise missing from None
        if patron.group_id != await self._group_id():
            raise missing
        return patron

    async def _get(self, patron_id: int) -> Patron:
        patron = await self.ctx.session.get(Patron, patron_id)
        if patron is None or patron.institution_id != await self._institution():
            raise NotFound("patron_not_found", "No such patron.")
        return patron

    async def get(
        self,
        resource_type: ResourceType,
        resource_id: str,
        *,
        response_parameters: ResponseParameters[Any] | None = None,
    ) -> Resource[Any]:
        return to_resource(await self._employee(resource_id), self.ctx.clock.now())

    async def search(
        self,
        resource_types: list[ResourceType],
        search_request: SearchRequest[Any],
        *,
        position: Any = None,
    ) -> SearchPage:
        query = select(Patron).where(
            Patron.institution_id == await self._institution(),
            Patron.group_id == await self._group_id(),
        )
        # The lookup every identity portal makes before creating someone, answered by an
        # index; any other filter is matched below, over the institution's employees.
        narrowing = _equality(search_request.filter)
        if narrowing is not None:
            query = query.where(narrowing)
        patrons = (await self.ctx.session.scalars(query.order_by(Patron.id))).all()
        now = self.ctx.clock.now()
        users: list[User] = [to_resource(patron, now) for patron in patrons]
        scim_filter = search_request.filter
        if scim_filter is not None:
            if not scim_filter.models:
                scim_filter = ScimFilter[User](str(scim_filter))
            users = [user for user in users if scim_filter.match(user)]
        if search_request.sort_by is not None:
            descending = search_request.sort_order == SearchRequest.SortOrder.descending
            present = [u for u in users if search_request.sort_value(u) is not None]
            absent = [u for u in users if search_request.sort_value(u) is None]
            present.sort(key=lambda u: search_request.sort_value(u), reverse=descending)
            users = present + absent  # missing values last, either way (RFC 7644 §3.4.2.3)
        start = search_request.start_index_0 or 0
        stop = None if search_request.count is None else start + search_request.count
        return SearchPage(total=len(users), resources=cast(list[Resource[Any]], users[start:stop]))

    async def create(self, resource_type: ResourceType, resource: Resource[Any]) -> Resource[Any]:
        wanted = from_resource(cast(User, resource))
        ctx = self.ctx
        await self._check_identity_id(wanted.identity_id, None)
        registration = await register_patron(
            ctx,
            await self._institution(),
            EMPLOYEE_GROUP,
            {column: value for column, value in wanted.columns.items() if value is not None},
            identity_id=wanted.identity_id,
            # The new employee activates their e-card with a code sent by e-mail (R2).
            activation_channel="email",
            public_url=self.public_url,
        )
        patron = registration.patron
        if wanted.active is False:
            await self._set_active(patron, active=False)
        return to_resource(patron, ctx.clock.now())

    async def update(
        self,
        resource_type: ResourceType,
        resource: Resource[Any],
        *,
        expected_version: str | None = None,
    ) -> Resource[Any]:
        patron = await self._employee(str(resource.id), lock=True)
        self._check_version(patron, expected_version)
        wanted = from_resource(cast(User, resource))
        await update_patron(self.ctx, patron.id, wanted.columns)
        if wanted.identity_id != patron.identity_id:
            await self._check_identity_id(wanted.identity_id, patron.id)
            patron.identity_id = wanted.identity_id
            patron.updated_at = self.ctx.clock.now()
            await record_on(self.ctx, "patron:update", patron, fields=["identity_id"])
        if wanted.active is not None:
            await self._set_active(patron, active=wanted.active)
        return to_resource(patron, self.ctx.clock.now())

    async def delete(
        self, resource_type: ResourceType, resource_id: str, *, expected_version: str | None = None
    ) -> None:
        patron = await self._employee(resource_id, lock=True)
        self._check_version(patron, expected_version)
        await self._set_active(patron, active=False)

    def _check_version(self, patron: Patron, expected_version: str | None) -> None:
        if expected_version is None:
            return
        current = to_resource(patron, self.ctx.clock.now())
        assert current.meta is not None
        if current.meta.version != expected_version:
            raise PreconditionFailedException(detail="The User has changed since it was read.")

    async def _check_identity_id(self, identity_id: str | None, patron_id: int | None) -> None:
        if identity_id is None:
            return
        clash = await self.ctx.session.scalar(
            select(Patron.id).where(
                Patron.institution_id == await self._institution(),
                Patron.identity_id == identity_id,
                Patron.id != (patron_id or -1),
            )
        )
        if clash is not None:
            raise UniquenessException(detail="Another account has this externalId.")

    async def _set_active(self, patron: Patron, *, active: bool) -> None:
        """Deactivating expires the account now; reactivating lifts that expiry. A closed
        account stays closed: reopening one is the desk's decision."""
        now = self.ctx.clock.now()
        if active == is_active(patron, now):
            return
        if active and patron.closed_at is not None:
            raise InvalidValueException(
                detail="This account is closed; the lending desk reopens closed accounts."
            )
        patron.expires_at = None if active else now
        patron.updated_at = now
        await record_on(self.ctx, "patron:reinstate" if active else "patron:expire", patron)


def _equality(scim_filter: ScimFilter[Any] | None) -> Any:
    """The SQL condition of a filter `userName eq "…"` or `externalId eq "…"`, else None.
    A narrowing only: the filter itself is still matched on what it finds."""
    if scim_filter is None:
        return None
    text = str(scim_filter).strip()
    for attribute in ("username", "externalid"):
        prefix = f"{attribute} eq "
        if not text.lower().startswith(prefix):
            continue
        rest = text[len(prefix) :].strip()
        if (
            len(rest) < 2
            or rest[0] != '"'
            or rest[-1] != '"'
            or any(c in rest[1:-1] for c in '"\\')
        ):
            return None
        value = rest[1:-1]
        if attribute == "username":  # institutional e-mails are stored in lower case
            return Patron.institutional_email == value.lower()
        return Patron.identity_id == value  # externalId is case-exact (RFC 7643 §3.1)
    return None
