"""差评工单: list, read and move on (docs/api.md)."""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Depends, HTTPException, Query
from pydantic import BaseModel, Field

from ... import cases as cases_mod
from ...auth import User, utcnow
from ..body import JSONRoute
from ..deps import EngineDep, need
from ..models import AUTH_ERRORS, CaseId, Text, errors

router = APIRouter(tags=["cases"], route_class=JSONRoute)


class TransitionIn(BaseModel):
    to: Literal["verified", "rectified", "fed_back", "invalid"]
    note: Text = Field("", max_length=4000)


@router.get("/api/v1/cases", responses={**errors(400), **AUTH_ERRORS})
def list_cases(
    user: Annotated[User, Depends(need("read"))],
    engine: EngineDep,
    state: Literal["open", "verified", "rectified", "fed_back", "invalid"] | None = None,
    overdue: bool | None = None,
    section: Annotated[Text | None, Query(max_length=64)] = None,
    window: Annotated[Text | None, Query(max_length=32)] = None,
    staff_no: Annotated[Text | None, Query(max_length=32)] = None,
    page: Annotated[int, Query(ge=1, le=1_000_000)] = 1,
    page_size: Annotated[int, Query(ge=1, le=1000)] = 100,
):
    """差评工单 with their state and deadline; ``overdue`` = past the deadline and not rectified."""
    with engine.connect() as conn:
        total, rows = cases_mod.list_cases(conn, state=state, overdue=overdue, section=section,
                                           window=window, staff_no=staff_no, now=utcnow(),
                                           limit=page_size, offset=(page - 1) * page_size)
    return {"total": total, "page": page, "page_size": page_size, "cases": rows}


@router.get("/api/v1/cases/{case_id}", responses={**errors(404), **AUTH_ERRORS})
def get_case(case_id: CaseId, user: Annotated[User, Depends(need("read"))], engine: EngineDep):
    """One case with its rating, reasons and every transition."""
    with engine.connect() as conn:
        out = cases_mod.get_case(conn, case_id, now=utcnow(), show_phone=user.may("see_phone"))
    if out is None:
        raise HTTPException(404, f"no case {case_id}")
    return out


@router.post("/api/v1/cases/{case_id}/transition", responses={**errors(400, 404, 409), **AUTH_ERRORS})
def transition(case_id: CaseId, body: TransitionIn, user: Annotated[User, Depends(need("act"))],
               engine: EngineDep):
    """Move a case on: open → verified → rectified → fed_back, or open/verified → invalid
    (a note is required for invalid)."""
    try:
        cases_mod.transition(engine, case_id, body.to, body.note, actor=user.username, now=utcnow())
    except cases_mod.CaseNotFound as exc:
        raise HTTPException(404, str(exc)) from None
    except cases_mod.CaseTransitionError as exc:
        raise HTTPException(exc.status, str(exc)) from None
    with engine.connect() as conn:
        return cases_mod.get_case(conn, case_id, now=utcnow(), show_phone=user.may("see_phone"))
