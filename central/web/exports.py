"""Exports for a date range: ratings and statistics as CSV and XLSX, and the
ratings in the national 好差评 interface's JSON shape for the provincial platform.

Ratings come from :func:`central.stats.list_ratings` (phones masked unless the
role may see them) and statistics from :func:`central.stats.query`, so an
export says exactly what the API and the pages say.

Every spreadsheet cell goes through :func:`spreadsheet_cell`: text a spreadsheet
program would run as a formula (a staff name, a section or a comment that starts
with ``=``, ``+``, ``-``, ``@``, a tab or a carriage return) gets a leading single
quote, and XLSX text cells are stored as text, never as formulas.
"""

from __future__ import annotations

import csv
import io
from datetime import UTC, datetime
from typing import Any
from zoneinfo import ZoneInfo

from ..stats import RATING_COLUMNS, source_label

#: The most rows one ratings export holds (the same cap as the API's CSV).
MAX_ROWS = 100_000

STATS_COLUMNS = ("key", "count", "5", "4", "3", "2", "1", "bad", "bad_unrectified", "good_rate", "unrated",
                 "rectified", "rectify_rate", "overdue", "followup_rate")
STATS_HEADER_ZH = ("分组", "评价数", "非常满意", "满意", "基本满意", "不满意", "非常不满意", "差评数",
                   "差评未整改数", "好评率", "未评价", "差评已整改数", "差评整改率", "超期未整改数", "实名差评回访率")

TOTAL_ZH = "合计"


#: The first characters that make a spreadsheet program read a cell as a formula
#: (OWASP "CSV injection"); such text is written with a leading ``'``.
FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def spreadsheet_cell(v: Any) -> Any:
    """``v`` as a CSV/XLSX cell: lists joined with spaces, None as empty, text that
    would start a formula prefixed with ``'``. Numbers stay numbers (``-3`` too)."""
    if isinstance(v, list):
        v = " ".join(str(x) for x in v)
    if v is None:
        return ""
    if isinstance(v, str) and v.startswith(FORMULA_START):
        return "'" + v
    return v


def spreadsheet_row(values: list[Any] | tuple[Any, ...]) -> list[Any]:
    return [spreadsheet_cell(v) for v in values]


#: The Chinese header of each ratings column in the CSV and XLSX downloads, and the
#: extra column holding the source's Chinese name.
RATING_HEADER_ZH = {
    "id": "评价编号", "rated_at": "评价时间", "day": "日期", "device_id": "评价器", "section": "版块",
    "window_no": "窗口", "staff_no": "工号", "staff_name": "工作人员", "satisfaction": "评价值",
    "level": "评价", "misuse": "误触", "source": "来源代码", "channel": "渠道（pf）", "project_no": "办件编号",
    "ticket_no": "排队号", "reasons": "原因", "comment": "留言", "phone": "电话", "case_id": "工单号",
    "case_state": "工单状态", "assess_number": "评价次数", "task_code": "事项编码", "task_name": "事项名称",
    "dept_code": "实施机构代码", "dept_name": "实施机构", "user_name": "申请人", "user_prop": "申请人类型",
    "accept_date": "受理日期", "promise_date": "承诺办结日期", "source_label": "来源",
}
EXPORT_COLUMNS = RATING_COLUMNS + ("source_label",)
#: Times in the downloads: the server timezone's wall clock.
LOCAL_TIME = "%Y-%m-%d %H:%M:%S"


def rating_header() -> list[str]:
    return [RATING_HEADER_ZH.get(c, c) for c in EXPORT_COLUMNS]


def local_time(value: str | None, tz: ZoneInfo) -> str | None:
    """An RFC 3339 UTC time (``…Z``) as the server timezone's ``YYYY-MM-DD hh:mm:ss``."""
    if not value:
        return value
    return datetime.fromisoformat(value.rstrip("Z")).replace(tzinfo=UTC).astimezone(tz).strftime(LOCAL_TIME)


def rating_rows(ratings: list[dict[str, Any]], tz: ZoneInfo | None = None) -> list[list[Any]]:
    """The ratings as rows in :data:`RATING_COLUMNS` order; with ``tz`` (the downloads)
    the time is local and the source's Chinese name is added (:data:`EXPORT_COLUMNS`)."""
    if tz is None:
        return [[r[c] for c in RATING_COLUMNS] for r in ratings]
    return [[local_time(r[c], tz) if c == "rated_at" else r[c] for c in RATING_COLUMNS]
            + [source_label(r["source"])] for r in ratings]


def stats_rows(doc: dict[str, Any], group_by: str | None = None) -> list[list[Any]]:
    """One row per group (a source by its Chinese name), then the total (``合计``)."""
    out = []
    for g in doc["groups"] + [{"key": TOTAL_ZH, **doc["total"]}]:
        key = source_label(g["key"]) if group_by == "source" and g["key"] != TOTAL_ZH else g["key"]
        out.append([key, g["count"], *(g["levels"][k] for k in ("5", "4", "3", "2", "1")), g["bad"],
                    g["bad_unrectified"], "" if g["good_rate"] is None else g["good_rate"], g["unrated"],
                    g["rectified"], "" if g["rectify_rate"] is None else g["rectify_rate"], g["overdue"],
                    "" if g["followup_rate"] is None else g["followup_rate"]])
    return out


def to_csv(header: list[str] | tuple[str, ...], rows: list[list[Any]]) -> bytes:
    """UTF-8 with a BOM so spreadsheet programs read the Chinese right; every cell
    through :func:`spreadsheet_cell`."""
    buf = io.StringIO()
    w = csv.writer(buf)
    w.writerow(spreadsheet_row(header))
    w.writerows(spreadsheet_row(row) for row in rows)
    return ("\ufeff" + buf.getvalue()).encode("utf-8")


def to_xlsx(sheet: str, header: list[str] | tuple[str, ...], rows: list[list[Any]],
            note: str | None = None) -> bytes:
    """One sheet with a bold header row (and an ``info`` sheet holding ``note``); text
    cells are stored as text (type ``s``) so no cell is ever a formula."""
    from openpyxl import Workbook
    from openpyxl.styles import Font

    wb = Workbook(write_only=False)
    ws = wb.active
    ws.title = sheet[:31]
    _append_text_safe(ws, header)
    for cell in ws[1]:
        cell.font = Font(bold=True)
    for row in rows:
        _append_text_safe(ws, row)
    ws.freeze_panes = "A2"
    if note:
        _append_text_safe(wb.create_sheet("info"), [note])
    out = io.BytesIO()
    wb.save(out)
    return out.getvalue()


def _append_text_safe(ws: Any, values: list[Any] | tuple[Any, ...]) -> None:
    ws.append(spreadsheet_row(values))
    for cell in ws[ws.max_row]:
        if isinstance(cell.value, str):
            cell.data_type = "s"


def national(ratings: list[dict[str, Any]], *, profile: str, area_code: str, data_source: str,
             tz: ZoneInfo) -> dict[str, Any]:
    """Ratings as the records pushed to the provincial platform under ``profile``
    (:mod:`central.province.profiles`: field names, code orders, time format), each
    with its ``evaluateId``; never a phone number."""
    from ..province import profiles

    p = profiles.get(profile)
    data = [{"evaluateId": r["id"], **profiles.record(p, r, area_code=area_code, data_source=data_source, tz=tz)}
            for r in ratings]
    return {"profile": p.name, "areaCode": area_code, "count": len(data), "data": data}
