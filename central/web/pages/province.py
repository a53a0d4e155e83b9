"""The provincial push page (admins): records by status, the refused ones with
the platform's reason, the 差评 waiting for their reasons (linked to their
cases), and the re-push buttons."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import RedirectResponse

from ... import province
from ...api import deps
from ...auth import utcnow
from ...db import write_tx
from ...province.worker import repush
from .. import csrf, i18n
from .common import forbidden, render, to_login, user_of

router = APIRouter(include_in_schema=False)


def _admin(request: Request):
    user = user_of(request)
    if user is None:
        return None, to_login(request)
    if not user.may("admin"):
        _ = i18n.translator(i18n.pick(request)[0])
        return user, forbidden(request, user, _("只有管理员可以查看省平台推送。", "Only admins may see the provincial push."))
    return user, None


@router.get("/province")
def province_page(request: Request):
    user, refused = _admin(request)
    if refused is not None:
        return refused
    settings = deps.get_settings(request).province
    with deps.get_engine(request).connect() as conn:
        counts = province.counts(conn)
        rejected = province.records(conn, province.REJECTED, 200)
        waiting = province.records(conn, province.WAITING_DETAIL, 200)
        pending = province.records(conn, province.PENDING, 50)
    pusher = getattr(request.app.state, "province_pusher", None)
    return render(request, "province.html", user=user, counts=counts, rejected=rejected, waiting=waiting,
                  pending=pending, cfg=settings, statuses=province.STATUSES, status_zh=province.STATUS_ZH,
                  down_since=pusher.down_since if pusher else None)


@router.post("/province/repush")
async def province_repush(request: Request):
    user, refused = _admin(request)
    if refused is not None:
        return refused
    data = await request.form()
    token = data.get(csrf.FIELD)
    if not csrf.valid(request, request.cookies.get(deps.SESSION_COOKIE), token if isinstance(token, str) else None):
        _ = i18n.translator(i18n.pick(request)[0])
        return forbidden(request, user, _("表单已过期，请刷新页面后重试。", "The form expired; reload the page."))
    one = data.get("id")
    # no id: every rejected record; an id that is not a record's number matches nothing
    push_id = None if one is None else int(one) if isinstance(one, str) and one.isdigit() and len(one) <= 9 else 0
    with write_tx(deps.get_engine(request)) as conn:
        repush(conn, push_id=push_id, now=utcnow())
    return RedirectResponse("/province", status_code=303)
