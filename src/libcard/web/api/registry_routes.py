"""The student registry's feed over HTTP: one run per request, the file as the body."""

from __future__ import annotations

import io
import tempfile
from typing import IO, Annotated

from fastapi import APIRouter, Query
from pydantic import BaseModel, Field

from libcard.access.scopes import Scope
from libcard.errors import InvalidInput, LibcardError
from libcard.sync.registry import FileFormat, read_rows
from libcard.sync.service import run_registry
from libcard.web.api.deps import Api, ApiDep, IdQuery

router = APIRouter(tags=["registry"])

PATH = "/registry/runs"
# What the middleware must let through on this path (web/app.py `uploads`): 100 000 students
# are about 12 MB of CSV.
MAX_BODY_BYTES = 64 * 1024 * 1024
# Up to this much of the body stays in memory; the rest goes to a temporary file.
SPOOL_BYTES = 1024 * 1024
MEDIA_TYPES = {
    "text/csv": FileFormat.CSV,
    "application/x-ndjson": FileFormat.JSONL,
    "application/jsonl": FileFormat.JSONL,
}
EXAMPLE_CSV = (
    "registry_id;first_name;last_name;birth_date;institutional_email;valid_until\n"
    "S1001;Anna;Berg;2004-05-17;anna@stud.example.edu;2027-06-30\n"
)
EXAMPLE_JSONL = (
    '{"registry_id": "S1001", "first_name": "Anna", "last_name": "Berg", '
    '"institutional_email": "anna@stud.example.edu"}\n'
)
BODY = {
    "requestBody": {
        "required": True,
        "content": {
            "text/csv": {"schema": {"type": "string"}, "example": EXAMPLE_CSV},
            "application/x-ndjson": {"schema": {"type": "string"}, "example": EXAMPLE_JSONL},
        },
    }
}


class UnsupportedMediaType(LibcardError):
    status = 415
    title = "Unsupported media type"


class RefusedRowOut(BaseModel):
    line: int = Field(description="The line in the file; a CSV header is line 1.")
    code: str
    message: str


class RegistryRunOut(BaseModel):
    full: bool
    dry_run: bool = Field(description="True: nothing was changed; the counts say what would be.")
    rows: int
    created: int
    updated: int
    returned: int = Field(description="Of the updated: missing before, in the file again.")
    unchanged: int
    missing: int = Field(description="Students newly missing from this full export.")
    expired: int = Field(description="Missing past the grace period: their accounts expired.")
    refused_count: int
    refused: list[RefusedRowOut] = Field(description="Refused rows (the first 1000).")
    changes: int


def _format(content_type: str) -> FileFormat:
    media = content_type.partition(";")[0].strip().lower()
    if media not in MEDIA_TYPES:
        raise UnsupportedMediaType(
            "registry_media_type",
            "Send the registry as text/csv or application/x-ndjson (UTF-8).",
        )
    return MEDIA_TYPES[media]


async def _spool(api: Api, body: IO[bytes]) -> None:
    async for chunk in api.request.stream():
        body.write(chunk)
    body.seek(0)


@router.post(PATH, response_model=RegistryRunOut, openapi_extra=BODY)
async def registry_run(
    api: ApiDep,
    full: Annotated[
        bool, Query(description="The body is the whole registry: the absent go missing.")
    ] = False,
    dry_run: Annotated[
        bool, Query(description="Report what would change; change nothing.")
    ] = False,
    institution_id: IdQuery = None,
) -> RegistryRunOut:
    """Apply the registry's export (CSV or JSON Lines; columns in docs/registry.md) to the
    institution's students: create, update, and with `full` mark missing and expire. Broken
    rows are refused with their line and stop nothing else; the run commits whole or not at
    all, and the same body sent again changes nothing. Needs a `registry` token."""
    file_format = _format(api.request.headers.get("content-type", ""))
    # The token first, in a unit that takes no lock; the upload is not read for nobody.
    async with api.unit(Scope.REGISTRY, readonly=True) as ctx:
        chosen = institution_id if institution_id is not None else ctx.actor.institution_id
    if chosen is None:
        raise InvalidInput("institution_required", "Name the institution (institution_id).")
    with tempfile.SpooledTemporaryFile(SPOOL_BYTES) as body:
        await _spool(api, body)
        stream = io.TextIOWrapper(body, encoding="utf-8-sig", newline="")
        async with api.unit(Scope.REGISTRY) as ctx:
            try:
                summary = await run_registry(
                    ctx,
                    chosen,
                    read_rows(stream, file_format),
                    full=full,
                    dry_run=dry_run,
                    public_url=api.runtime.settings.public_url,
                )
            except UnicodeDecodeError:
                raise InvalidInput(
                    "registry_encoding", "The file is not UTF-8 text; send it as UTF-8."
                ) from None
    return RegistryRunOut(
        full=summary.full,
        dry_run=summary.dry_run,
        rows=summary.rows,
        created=summary.created,
        updated=summary.updated,
        returned=summary.returned,
        unchanged=summary.unchanged,
        missing=summary.missing,
        expired=summary.expired,
        refused_count=summary.refused_count,
        refused=[
            RefusedRowOut(line=r.line, code=r.code, message=r.message) for r in summary.refused
        ],
        changes=summary.changes,
    )
