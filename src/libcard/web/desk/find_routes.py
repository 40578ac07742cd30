"""(to be written: the desk's start page, finding a patron)"""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import Response

from libcard.web.desk.render import render
from libcard.web.desk.visit import staff_visit

router = APIRouter(include_in_schema=False)


@router.get("/desk")
async def home(request: Request) -> Response:
    visit = await staff_visit(request)
    return render(visit, "desk/home.html")
