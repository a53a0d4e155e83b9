"""差评工单: the closed loop (docs/api.md). Thin handlers over :mod:`central.cases`
and :mod:`central.attachments`; which step needs what, and who may take it, is
the table in :mod:`central.workflow`."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Body, Depends, HTTPException, Path, Query, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import Response

from ... import attachments as attachments_mod
from ... import cases as cases_mod
from ...auth import User, utcnow
from ...wire import BatchError
from ...workflow import STATES
from ..body import JSONRoute, read_body
from ..deps import EngineDep, SettingsDep, need, sources
from ..models import AUTH_ERRORS, CaseId, SourceParam, Text, errors

router = APIRouter(tags=["cases"], route_class=JSONRoute)

AttId = Annotated[int, Path(ge=1, le=2**31 - 1)]
StateName = Literal[STATES]  # type: ignore[valid-type]


def _refused(exc: Exception) -> HTTPException:
    if isinstance(exc, cases_mod.CaseNotFound):
        return HTTPException(404, str(exc))
    return HTTPException(getattr(exc, "status", 400), str(exc))


@router.get("/api/v1/cases", responses={**errors(400), **AUTH_ERRORS})
def list_cases(
    user: Annotated[User, Depends(need("read"))],
    engine: EngineDep,
    settings: SettingsDep,
    state: StateName | None = None,
    overdue: bool | None = None,
    section: Annotated[Text | None, Query(max_length=64)] = None,
    window: Annotated[Text | None, Query(max_length=32)] = None,
    staff_no: Annotated[Text | None, Query(max_length=32)] = None,
    view: Literal["all", "action", "approve"] = "all",
    page: Annotated[int, Query(ge=1, le=1_000_000)] = 1,
    page_size: Annotated[int, Query(ge=1, le=1000)] = 100,
    source: SourceParam = None,
):
    """差评工单 sorted by deadline, with days left, staff name, reasons and the rating's
    ``source``. ``view=action``: the states someone must act on; ``view=approve``:
    four-eyes steps waiting for someone other than the caller; ``overdue`` = past the
    deadline and not rectified or unfixable; ``source``: only cases of ratings from
    those sources (as ``GET /api/v1/stats?source=``)."""
    wanted = sources(source)
    with engine.connect() as conn:
        total, rows = cases_mod.list_cases(conn, state=state, overdue=overdue, section=section, window=window,
                                           staff_no=staff_no, view=view, me=user.username, now=utcnow(),
                                           deadlines=settings.deadlines, limit=page_size,
                                           offset=(page - 1) * page_size, source=wanted)
    return {"total": total, "page": page, "page_size": page_size, "cases": rows}


def _case(engine, settings, user: User, case_id: int) -> dict[str, Any]:
    with engine.connect() as conn:
        out = cases_mod.get_case(conn, case_id, now=utcnow(), show_phone=user.may("see_phone"),
                                 deadlines=settings.deadlines)
    if out is None:
        raise HTTPException(404, f"no case {case_id}")
    return out


@router.get("/api/v1/cases/{case_id}", responses={**errors(404), **AUTH_ERRORS})
def get_case(case_id: CaseId, user: Annotated[User, Depends(need("read"))], engine: EngineDep,
             settings: SettingsDep):
    """One case with its rating, reasons, every step, follow-ups, attachments and the
    steps its state allows."""
    return _case(engine, settings, user, case_id)


@router.post("/api/v1/cases/{case_id}/transition", responses={**errors(400, 404, 409), **AUTH_ERRORS})
def transition(case_id: CaseId, body: Annotated[dict[str, Any], Body()],
               user: Annotated[User, Depends(need("act"))], engine: EngineDep, settings: SettingsDep):
    """One step of the §9 table: ``{"to", "note", "reasons"?, "due_date"?, "attachment_ids"?}``.
    403 a role that may not act; 409 an illegal step or the same person approving; 400 a
    missing field."""
    try:
        cases_mod.transition(engine, case_id, body, actor=user.username, role=user.role, now=utcnow(),
                             deadlines=settings.deadlines)
    except (cases_mod.CaseNotFound, cases_mod.CaseTransitionError) as exc:
        raise _refused(exc) from None
    return _case(engine, settings, user, case_id)


@router.post("/api/v1/cases/{case_id}/followups", status_code=201,
             responses={**errors(400, 404, 409), **AUTH_ERRORS})
def add_followup(case_id: CaseId, body: Annotated[dict[str, Any], Body()],
                 user: Annotated[User, Depends(need("act"))], engine: EngineDep):
    """A 回访: ``{"at"?, "method": "phone|sms|visit|other", "reached", "satisfied"?, "note"?}``."""
    try:
        fid = cases_mod.add_followup(engine, case_id, body, actor=user.username, role=user.role, now=utcnow())
    except (cases_mod.CaseNotFound, cases_mod.CaseTransitionError) as exc:
        raise _refused(exc) from None
    return {"id": fid}


@router.post("/api/v1/cases/{case_id}/attachments", status_code=201,
             responses={**errors(400, 404, 413, 415), **AUTH_ERRORS},
             openapi_extra={"requestBody": {"required": True, "content": {
                 t: {"schema": {"type": "string", "format": "binary"}} for t in attachments_mod.TYPES}}})
async def upload_attachment(case_id: CaseId, request: Request, user: Annotated[User, Depends(need("act"))],
                            engine: EngineDep, settings: SettingsDep,
                            name: Annotated[Text | None, Query(max_length=200)] = None):
    """A file for the case as the request body with its Content-Type (PDF, PNG or JPEG,
    checked by its first bytes; at most 10 MiB)."""
    ctype = request.headers.get("content-type")
    try:
        attachments_mod.check_type(ctype)
        try:
            data = await read_body(request, attachments_mod.MAX_BYTES, settings.body_timeout_seconds)
        except BatchError as exc:
            if exc.status == 413:
                raise attachments_mod.AttachmentError(
                    f"the file is larger than {attachments_mod.MAX_BYTES} bytes (10 MiB): send a smaller one",
                    413) from None
            raise attachments_mod.AttachmentError(exc.message, exc.status) from None
        return await run_in_threadpool(attachments_mod.store, engine, case_id, name, ctype, data,
                                       actor=user.username, now=utcnow())
    except attachments_mod.AttachmentError as exc:
        raise HTTPException(exc.status, str(exc)) from None


@router.get("/api/v1/cases/{case_id}/attachments/{att_id}", responses={**errors(404), **AUTH_ERRORS})
def download_attachment(case_id: CaseId, att_id: AttId, user: Annotated[User, Depends(need("read"))],
                        engine: EngineDep) -> Response:
    """A file of the case, as a download (``Content-Disposition: attachment``)."""
    with engine.connect() as conn:
        row = attachments_mod.fetch(conn, case_id, att_id)
    if row is None:
        raise HTTPException(404, f"case {case_id} has no attachment {att_id}")
    return Response(row.content, media_type=row.content_type, headers=attachments_mod.download_headers(row))
