"""``/api/v1/cases``: the 差评 closed loop (DESIGN §9). Thin handlers over
:mod:`central.cases` and :mod:`central.attachments`; the rules live in
:mod:`central.workflow`."""


from typing import Annotated, Any, Literal

from fastapi import APIRouter, Body, Depends, HTTPException, Path, Query, Request
from fastapi.responses import Response
from sqlalchemy.engine import Engine

from ... import attachments as attachments_mod
from ... import cases as cases_mod
from ...auth import User, utcnow
from ...workdays import Deadlines
from ...workflow import STATES

CaseId = Annotated[int, Path(ge=1, le=2**31 - 1)]
AttId = Annotated[int, Path(ge=1, le=2**31 - 1)]
_ERR = {400: {}, 401: {}, 403: {}, 404: {}, 409: {}}


def _fail(exc: Exception) -> HTTPException:
    if isinstance(exc, cases_mod.CaseNotFound):
        return HTTPException(404, str(exc))
    return HTTPException(getattr(exc, "status", 400), str(exc))


async def read_limited(request: Request, limit: int) -> bytes:
    """The request body, refusing (413) as soon as it passes ``limit`` bytes."""
    declared = request.headers.get("content-length")
    if declared and declared.isdigit() and int(declared) > limit:
        raise HTTPException(413, f"the file is {declared} bytes: at most {limit} (10 MiB) are accepted")
    buf = bytearray()
    async for chunk in request.stream():
        buf += chunk
        if len(buf) > limit:
            raise HTTPException(413, f"the file is larger than {limit} bytes (10 MiB): send a smaller one")
    return bytes(buf)


def build_router(engine: Engine, need, deadlines: Deadlines) -> APIRouter:
    """The case endpoints; ``need(action)`` is the app's user dependency."""
    router = APIRouter(tags=["cases"])

    @router.get("/api/v1/cases", responses=_ERR)
    def list_cases(
        user: Annotated[User, Depends(need("read"))],
        state: Literal[STATES] | None = None,  # type: ignore[valid-type]
        overdue: bool | None = None,
        section: Annotated[str | None, Query(max_length=64)] = None,
        window: Annotated[str | None, Query(max_length=32)] = None,
        staff_no: Annotated[str | None, Query(max_length=32)] = None,
        view: Literal["all", "action", "approve"] = "all",
        page: Annotated[int, Query(ge=1, le=1_000_000)] = 1,
        page_size: Annotated[int, Query(ge=1, le=1000)] = 100,
    ) -> dict[str, Any]:
        """差评工单 sorted by deadline, with days left, staff name and reasons. ``view=action``:
        the states someone must act on; ``view=approve``: four-eyes steps waiting for
        someone other than the caller."""
        with engine.connect() as conn:
            total, rows = cases_mod.list_cases(conn, state=state, overdue=overdue, section=section, window=window,
                                               staff_no=staff_no, view=view, me=user.username, now=utcnow(),
                                               deadlines=deadlines, limit=page_size, offset=(page - 1) * page_size)
        return {"total": total, "page": page, "page_size": page_size, "cases": rows}

    @router.get("/api/v1/cases/{case_id}", responses=_ERR)
    def get_case(case_id: CaseId, user: Annotated[User, Depends(need("read"))]) -> dict[str, Any]:
        """One case with its rating, reasons, steps, follow-ups, attachments and allowed moves."""
        with engine.connect() as conn:
            out = cases_mod.get_case(conn, case_id, now=utcnow(), show_phone=user.may("see_phone"),
                                     deadlines=deadlines)
        if out is None:
            raise HTTPException(404, f"no case {case_id}")
        return out

    @router.post("/api/v1/cases/{case_id}/transition", responses=_ERR)
    def transition(case_id: CaseId, body: Annotated[dict[str, Any], Body()],
                   user: Annotated[User, Depends(need("act"))]) -> dict[str, Any]:
        """One step of the §9 table: ``{"to", "note", "reasons"?, "due_date"?, "attachment_ids"?}``."""
        try:
            cases_mod.transition(engine, case_id, body, actor=user.username, role=user.role, now=utcnow(),
                                 deadlines=deadlines)
        except (cases_mod.CaseNotFound, cases_mod.CaseTransitionError) as exc:
            raise _fail(exc) from None
        return get_case(case_id, user)

    @router.post("/api/v1/cases/{case_id}/followups", status_code=201, responses=_ERR)
    def add_followup(case_id: CaseId, body: Annotated[dict[str, Any], Body()],
                     user: Annotated[User, Depends(need("act"))]) -> dict[str, Any]:
        """A 回访: ``{"at", "method", "reached", "satisfied", "note"}``."""
        try:
            fid = cases_mod.add_followup(engine, case_id, body, actor=user.username, role=user.role, now=utcnow())
        except (cases_mod.CaseNotFound, cases_mod.CaseTransitionError) as exc:
            raise _fail(exc) from None
        return {"id": fid}

    @router.post("/api/v1/cases/{case_id}/attachments", status_code=201, responses={**_ERR, 413: {}, 415: {}},
                 openapi_extra={"requestBody": {"required": True, "content": {
                     t: {"schema": {"type": "string", "format": "binary"}} for t in attachments_mod.TYPES}}})
    async def upload(case_id: CaseId, request: Request, user: Annotated[User, Depends(need("act"))],
                     name: Annotated[str | None, Query(max_length=200)] = None) -> dict[str, Any]:
        """A file for the case as the request body with its Content-Type (PDF, PNG, JPEG; ≤ 10 MiB)."""
        from fastapi.concurrency import run_in_threadpool

        try:
            attachments_mod.check_type(request.headers.get("content-type"))
            data = await read_limited(request, attachments_mod.MAX_BYTES)
            return await run_in_threadpool(attachments_mod.store, engine, case_id, name,
                                           request.headers.get("content-type"), data,
                                           actor=user.username, now=utcnow())
        except attachments_mod.AttachmentError as exc:
            raise HTTPException(exc.status, str(exc)) from None

    @router.get("/api/v1/cases/{case_id}/attachments/{att_id}", responses=_ERR)
    def download(case_id: CaseId, att_id: AttId, user: Annotated[User, Depends(need("read"))]) -> Response:
        """A file of the case, as a download (``Content-Disposition: attachment``)."""
        with engine.connect() as conn:
            row = attachments_mod.fetch(conn, case_id, att_id)
        if row is None:
            raise HTTPException(404, f"case {case_id} has no attachment {att_id}")
        return Response(row.content, media_type=row.content_type, headers=attachments_mod.download_headers(row))

    return router
