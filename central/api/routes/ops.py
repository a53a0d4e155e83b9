"""Health and metrics, for the load balancer and Prometheus."""

from __future__ import annotations

import sqlalchemy as sa
from fastapi import APIRouter, Request
from fastapi.responses import PlainTextResponse
from pydantic import BaseModel

from ...auth import utcnow
from ...timefmt import rfc3339
from ..body import JSONRoute
from ..deps import EngineDep

router = APIRouter(tags=["ops"], route_class=JSONRoute)


class Health(BaseModel):
    status: str
    db: str
    server_time: str


@router.get("/healthz", response_model=Health)
def healthz(engine: EngineDep) -> Health:
    """Liveness and database reachability."""
    with engine.connect() as conn:
        conn.execute(sa.text("SELECT 1"))
    return Health(status="ok", db="ok", server_time=rfc3339(utcnow()))


@router.get("/metrics", response_class=PlainTextResponse)
def metrics_text(request: Request) -> str:
    """Prometheus text format: batches, events by status, rejected reasons, latency."""
    return request.app.state.metrics.render()
