"""Items: the copies a library lends. Create, change, look up by barcode, import from CSV."""

from __future__ import annotations

import codecs
import csv
from typing import Annotated

from fastapi import APIRouter, Path

from libcard.access.scopes import Scope
from libcard.context import Ctx
from libcard.errors import InvalidInput, LibcardError
from libcard.loans import service as loans
from libcard.loans.models import Item
from libcard.policy.service import get_institution
from libcard.web.api import schemas as s
from libcard.web.api.deps import ApiDep, IdPath, IdQuery

router = APIRouter(tags=["items"])

BarcodePath = Annotated[str, Path(min_length=1, max_length=64)]
CSV_TYPES = ("text/csv", "text/plain")
CSV_BODY = {
    "requestBody": {
        "required": True,
        "content": {
            "text/csv": {
                "schema": {"type": "string"},
                "example": "barcode;title;branch_code;replacement_cost;loanable\n"
                "3800001;Kongens Fald;main;120,00;yes\n",
            }
        },
    }
}


class UnsupportedMediaType(LibcardError):
    status = 415
    title = "Unsupported media type"


def _institution(ctx: Ctx, named: int | None) -> int:
    """The institution named, else the token's own; a token of every institution must name
    one."""
    institution_id = named if named is not None else ctx.actor.institution_id
    if institution_id is None:
        raise InvalidInput(
            "institution_required", "Name the institution (institution_id) the item belongs to."
        )
    return institution_id


async def item_out(ctx: Ctx, item: Item) -> s.ItemOut:
    loan = await loans.open_loan_of(ctx, item)
    return s.ItemOut(
        id=item.id,
        institution_id=item.institution_id,
        branch_id=item.branch_id,
        barcode=item.barcode,
        title=item.title,
        replacement_cost=s.Money.of(item.replacement_cost_minor, await _currency(ctx, item)),
        loanable=item.loanable,
        on_loan=loan is not None,
        due_at=loan.due_at if loan else None,
    )


async def _currency(ctx: Ctx, item: Item) -> str:
    return (await get_institution(ctx, item.institution_id)).currency


@router.post("/items", response_model=s.ItemOut, status_code=201)
async def create_item(api: ApiDep, body: s.ItemIn) -> s.ItemOut:
    """Add a copy. The replacement cost is what a lost copy costs the borrower."""
    async with api.unit(Scope.ITEMS_WRITE) as ctx:
        item = await loans.create_item(
            ctx,
            _institution(ctx, body.institution_id),
            barcode=body.barcode,
            title=body.title,
            branch_id=body.branch_id,
            replacement_cost_minor=body.replacement_cost_minor,
            loanable=body.loanable,
        )
        return await item_out(ctx, item)


@router.patch("/items/{item_id}", response_model=s.ItemOut)
async def update_item(api: ApiDep, item_id: IdPath, body: s.ItemChangeIn) -> s.ItemOut:
    async with api.unit(Scope.ITEMS_WRITE) as ctx:
        item = await loans.update_item(
            ctx,
            item_id,
            title=body.title,
            branch_id=body.branch_id,
            replacement_cost_minor=body.replacement_cost_minor,
            loanable=body.loanable,
        )
        return await item_out(ctx, item)


@router.get("/items/by-barcode/{barcode}", response_model=s.ItemOut)
async def item_by_barcode(
    api: ApiDep, barcode: BarcodePath, institution_id: IdQuery = None
) -> s.ItemOut:
    """The item with this barcode, and whether it is out on loan until when."""
    async with api.unit(Scope.ITEMS_READ, readonly=True) as ctx:
        item = await loans.get_item_by_barcode(ctx, barcode, institution_id=institution_id)
        return await item_out(ctx, item)


def _csv_text(body: bytes, content_type: str) -> str:
    media, _, parameters = content_type.partition(";")
    if media.strip().lower() not in CSV_TYPES:
        raise UnsupportedMediaType(
            "csv_media_type", "Send the items as CSV text: Content-Type: text/csv."
        )
    charset = "utf-8"
    for parameter in parameters.split(";"):
        name, _, value = parameter.partition("=")
        if name.strip().lower() == "charset" and value.strip():
            charset = value.strip().strip('"')
    try:
        text = body.decode(codecs.lookup(charset).name)
    except (LookupError, UnicodeDecodeError):
        raise InvalidInput(
            "csv_encoding",
            f"The CSV text cannot be read as {charset}; send UTF-8, or name the charset "
            "(text/csv; charset=windows-1252).",
        ) from None
    if not text.lstrip("\ufeff").strip():
        raise InvalidInput("csv_empty", "The CSV text is empty; send the header line and rows.")
    return text


@router.post("/items/import", response_model=s.ImportReportOut, openapi_extra=CSV_BODY)
async def import_items(api: ApiDep, institution_id: IdQuery = None) -> s.ImportReportOut:
    """Create or update items from CSV with the columns barcode, title, branch_code,
    replacement_cost (like 120,00 or 120.00) and loanable (yes/no); `;`, `,` or tab between
    them. A broken row is reported with its line and skipped; the others are applied, and
    importing the same file again changes nothing."""
    async with api.unit(Scope.ITEMS_WRITE) as ctx:
        content_type = api.request.headers.get("content-type", "")
        text = _csv_text(await api.request.body(), content_type)
        try:
            report = await loans.import_items_csv(ctx, _institution(ctx, institution_id), text)
        except csv.Error as error:
            raise InvalidInput("csv_format", f"The CSV text cannot be read: {error}.") from None
    return s.ImportReportOut(
        created=report.created,
        updated=report.updated,
        unchanged=report.unchanged,
        errors=[
            s.ImportErrorOut(line=line, code=code, message=m) for line, code, m in report.errors
        ],
    )
