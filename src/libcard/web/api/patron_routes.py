"""Patrons: register, read, change personal data (R8, R9), activation (R1, R2), password (R7)."""

from __future__ import annotations

from datetime import date
from typing import Annotated

from fastapi import APIRouter, Query, Response

from libcard.access.scopes import Scope
from libcard.accounts.service import issue_activation, register_patron
from libcard.cards.activation import activate
from libcard.context import Ctx
from libcard.notify.sender import wake_mail
from libcard.patrons import credentials
from libcard.patrons import service as patrons
from libcard.patrons.models import Patron
from libcard.policy.models import PatronGroup
from libcard.web.api import schemas as s
from libcard.web.api.deps import ApiDep, IdPath
from libcard.web.api.views import card_out, patron_out

router = APIRouter(tags=["patrons"])


async def _out(ctx: Ctx, patron: Patron) -> s.PatronOut:
    group = await ctx.session.get(PatronGroup, patron.group_id)
    assert group is not None
    return patron_out(patron, group, await patrons.patron_policy(ctx, patron), ctx.actor)


@router.post(
    "/institutions/{institution_id}/patrons", response_model=s.RegistrationOut, status_code=201
)
async def create_patron(api: ApiDep, institution_id: IdPath, body: s.PatronIn) -> s.RegistrationOut:
    """Register a patron; every patron gets an e-card at once (R3)."""
    async with api.unit(Scope.PATRONS_WRITE) as ctx:
        fields = body.model_dump(
            exclude_unset=True,
            exclude={"group", "registry_id", "identity_id", "activation_channel"},
        )
        registration = await register_patron(
            ctx,
            institution_id,
            body.group,
            fields,
            registry_id=body.registry_id,
            identity_id=body.identity_id,
            activation_channel=body.activation_channel,
            public_url=api.runtime.settings.public_url,
        )
        out = s.RegistrationOut(
            patron=await _out(ctx, registration.patron),
            ecard=card_out(registration.ecard),
            activation_code=registration.activation_code,
        )
    if body.activation_channel == "email":
        wake_mail(api.request)  # the unit has committed: the mail may go
    return out


@router.get("/institutions/{institution_id}/patrons", response_model=list[s.PatronOut])
async def search_patrons(
    api: ApiDep,
    institution_id: IdPath,
    name: Annotated[str | None, Query(max_length=100)] = None,
    email: Annotated[str | None, Query(max_length=254)] = None,
    registry_id: Annotated[str | None, Query(max_length=64)] = None,
    birth_date: date | None = None,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
    offset: Annotated[int, Query(ge=0, le=1_000_000)] = 0,
) -> list[s.PatronOut]:
    async with api.unit(Scope.PATRONS_READ, readonly=True) as ctx:
        found = await patrons.search_patrons(
            ctx,
            institution_id,
            name=name,
            email=email,
            registry_id=registry_id,
            birth_date=birth_date,
            limit=limit,
            offset=offset,
        )
        return [await _out(ctx, p) for p in found]


@router.get("/patrons/{patron_id}", response_model=s.PatronOut)
async def get_patron(api: ApiDep, patron_id: IdPath) -> s.PatronOut:
    async with api.unit(Scope.PATRONS_READ, readonly=True) as ctx:
        return await _out(ctx, await patrons.get_patron(ctx, patron_id))


@router.patch("/patrons/{patron_id}", response_model=s.PatronOut)
async def update_patron(api: ApiDep, patron_id: IdPath, body: s.PersonalData) -> s.PatronOut:
    """Change personal data. Each field is refused unless the caller owns it (R8, R9)."""
    async with api.unit(Scope.PATRONS_WRITE) as ctx:
        changes = body.model_dump(exclude_unset=True)
        return await _out(ctx, await patrons.update_patron(ctx, patron_id, changes))


@router.put("/patrons/{patron_id}/group", response_model=s.PatronOut)
async def change_group(api: ApiDep, patron_id: IdPath, body: s.GroupChangeIn) -> s.PatronOut:
    """Move a patron to another group (an external who became an employee); from then on the
    new group's policy — field owners, fees, physical card — applies."""
    async with api.unit(Scope.PATRONS_WRITE) as ctx:
        return await _out(ctx, await patrons.change_group(ctx, patron_id, body.group))


@router.post(
    "/patrons/{patron_id}/activation-codes", response_model=s.ActivationCodeOut, status_code=201
)
async def issue_activation_code(
    api: ApiDep, patron_id: IdPath, body: s.ActivationCodeIn
) -> s.ActivationCodeOut:
    """A single-use code for the activation letter or e-mail; earlier codes stop working. By
    e-mail, libcard sends it to the patron's e-mail address (or else the institutional one)."""
    async with api.unit(Scope.ACTIVATION) as ctx:
        token, code = await issue_activation(
            ctx, patron_id, body.channel, public_url=api.runtime.settings.public_url
        )
    if body.channel == "email":
        wake_mail(api.request)
    return s.ActivationCodeOut(code=code, expires_at=token.expires_at, channel=token.channel)


@router.post("/activation", response_model=s.ActivatedOut)
async def activate_account(api: ApiDep, body: s.ActivateIn) -> s.ActivatedOut:
    """Card number + activation code; sets the password and the PIN in one step (R2)."""
    async with api.unit(Scope.ACTIVATION) as ctx:
        patron = await activate(ctx, body.card_number, body.code, body.password, body.pin)
        assert patron.activated_at is not None
        return s.ActivatedOut(patron_id=patron.id, activated_at=patron.activated_at)


@router.post("/patrons/{patron_id}/password", status_code=204)
async def change_password(api: ApiDep, patron_id: IdPath, body: s.PasswordChangeIn) -> Response:
    async with api.unit(Scope.PASSWORD) as ctx:
        await credentials.change_password(ctx, patron_id, body.current_password, body.new_password)
    return Response(status_code=204)
