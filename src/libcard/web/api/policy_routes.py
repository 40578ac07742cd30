"""Policy: institutions and patron groups (R4, R6, R8, R9, R13, R14b)."""

from __future__ import annotations

from fastapi import APIRouter

from libcard.access.scopes import Scope
from libcard.policy import service as policy
from libcard.web.api import schemas as s
from libcard.web.api.deps import ApiDep, IdPath
from libcard.web.api.views import group_out, institution_out

router = APIRouter(tags=["policy"])


def _changes(body: s.Strict) -> dict[str, object]:
    # Only what the caller sent: an omitted setting stays, an explicit null is judged.
    return body.model_dump(exclude_unset=True, mode="json")


@router.get("/institutions", response_model=list[s.InstitutionOut])
async def list_institutions(api: ApiDep) -> list[s.InstitutionOut]:
    async with api.unit(Scope.POLICY_READ, readonly=True) as ctx:
        return [institution_out(i) for i in await policy.list_institutions(ctx)]


@router.post("/institutions", response_model=s.InstitutionOut, status_code=201)
async def create_institution(api: ApiDep, body: s.InstitutionIn) -> s.InstitutionOut:
    async with api.unit(Scope.POLICY_WRITE) as ctx:
        values = _changes(body)
        institution = await policy.create_institution(
            ctx,
            code=str(values.pop("code")),
            name=str(values.pop("name")),
            card_prefix=str(values.pop("card_prefix")),
            currency=str(values.pop("currency", "DKK")),
            **values,
        )
        return institution_out(institution)


@router.get("/institutions/{institution_id}", response_model=s.InstitutionOut)
async def get_institution(api: ApiDep, institution_id: IdPath) -> s.InstitutionOut:
    async with api.unit(Scope.POLICY_READ, readonly=True) as ctx:
        return institution_out(await policy.get_institution(ctx, institution_id))


@router.patch("/institutions/{institution_id}", response_model=s.InstitutionOut)
async def update_institution(
    api: ApiDep, institution_id: IdPath, body: s.InstitutionPolicyIn
) -> s.InstitutionOut:
    async with api.unit(Scope.POLICY_WRITE) as ctx:
        return institution_out(await policy.update_institution(ctx, institution_id, _changes(body)))


@router.get("/institutions/{institution_id}/groups", response_model=list[s.GroupOut])
async def list_groups(api: ApiDep, institution_id: IdPath) -> list[s.GroupOut]:
    async with api.unit(Scope.POLICY_READ, readonly=True) as ctx:
        institution = await policy.get_institution(ctx, institution_id)
        return [group_out(institution, g) for g in await policy.list_groups(ctx, institution_id)]


@router.post("/institutions/{institution_id}/groups", response_model=s.GroupOut, status_code=201)
async def create_group(api: ApiDep, institution_id: IdPath, body: s.GroupIn) -> s.GroupOut:
    async with api.unit(Scope.POLICY_WRITE) as ctx:
        values = _changes(body)
        group = await policy.create_group(
            ctx,
            institution_id,
            code=str(values.pop("code")),
            name=str(values.pop("name")),
            **values,
        )
        return group_out(await policy.get_institution(ctx, institution_id), group)


@router.get("/groups/{group_id}", response_model=s.GroupOut)
async def get_group(api: ApiDep, group_id: IdPath) -> s.GroupOut:
    async with api.unit(Scope.POLICY_READ, readonly=True) as ctx:
        group = await policy.get_group(ctx, group_id)
        return group_out(await policy.get_institution(ctx, group.institution_id), group)


@router.patch("/groups/{group_id}", response_model=s.GroupOut)
async def update_group(api: ApiDep, group_id: IdPath, body: s.GroupPolicyIn) -> s.GroupOut:
    async with api.unit(Scope.POLICY_WRITE) as ctx:
        group = await policy.update_group(ctx, group_id, _changes(body))
        return group_out(await policy.get_institution(ctx, group.institution_id), group)
