"""The push to the provincial platform: record counts and lists, re-push (admins)."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, HTTPException, Path, Query

from ... import province
from ...auth import User, utcnow
from ...db import write_tx
from ...province.worker import repush
from ..body import JSONRoute
from ..deps import EngineDep, need
from ..models import AUTH_ERRORS, errors

router = APIRouter(tags=["province"], route_class=JSONRoute)


@router.get("/api/v1/province", responses={**errors(400), **AUTH_ERRORS})
def province_status(user: Annotated[User, Depends(need("admin"))], engine: EngineDep,
                    status: Annotated[str | None, Query(description="one of " + ", ".join(province.STATUSES))] = None,
                    limit: Annotated[int, Query(ge=1, le=1000)] = 100) -> dict[str, Any]:
    """Push records by status, and the newest records (of ``status`` when given)."""
    if status is not None and status not in province.STATUSES:
        raise HTTPException(400, f"status: expected one of {', '.join(province.STATUSES)}, got {status!r}")
    with engine.connect() as conn:
        return {"counts": province.counts(conn), "records": province.records(conn, status, limit)}


@router.post("/api/v1/province/repush-rejected", responses=AUTH_ERRORS)
def repush_rejected(user: Annotated[User, Depends(need("admin"))], engine: EngineDep) -> dict[str, int]:
    """Every rejected record goes back to pending, due now."""
    with write_tx(engine) as conn:
        return {"repushed": repush(conn, now=utcnow())}


@router.post("/api/v1/province/{push_id}/repush", responses={**errors(404, 409), **AUTH_ERRORS})
def repush_one(push_id: Annotated[int, Path(ge=1, le=2**31 - 1)], user: Annotated[User, Depends(need("admin"))],
               engine: EngineDep) -> dict[str, int]:
    """One record (rejected, skipped or sent) goes back to pending, due now."""
    with write_tx(engine) as conn:
        n = repush(conn, push_id=push_id, now=utcnow())
        if not n:
            have = conn.execute(province.province_outbox.select()
                                .where(province.province_outbox.c.id == push_id)).first()
            if have is None:
                raise HTTPException(404, f"no push record {push_id}")
            raise HTTPException(409, f"push record {push_id} is {have.status}: only rejected, skipped "
                                     "or sent records can be pushed again")
    return {"repushed": n}
