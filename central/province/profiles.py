"""The provincial platforms' record layouts, as data.

A profile names the pushed fields, the order of the satisfaction codes, the
channel (pf) codes that differ from the national ones, the time format, whether
a record needs a project_no and how the platform says "already rated". The
record never holds a phone number.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any
from zoneinfo import ZoneInfo

from kiosk.levels import Level

#: the record's items, in order: what :func:`record` fills under the profile's names
ITEMS = ("project_no", "pf", "satisfaction", "eval_detail", "writing", "assess_time", "assess_number",
         "area_code", "task_code", "task_name", "dept_code", "user_name", "user_prop", "data_source")

_NATIONAL_NAMES = dict(zip(ITEMS, (
    "projectNo", "pf", "satisfaction", "evalDetail", "writingEvaluation", "assessTime", "assessNumber",
    "areaCode", "taskCode", "taskName", "deptCode", "userName", "userProp", "dataSource")))

#: GB/T 39046 data item names
_GBT_NAMES = dict(zip(ITEMS, (
    "办件编号", "评价渠道", "满意度代码", "评价指标", "文字评价", "评价时间", "评价次数",
    "行政区划代码", "事项编码", "事项名称", "实施机构代码", "申请人名称", "申请人类型", "数据来源")))

ALREADY_EXISTS = "本次服务已存在评价"


@dataclass(frozen=True)
class Profile:
    name: str
    names: dict[str, str]
    #: "wire" (5 = 非常满意) or "gbt" (GB/T 39046 满意度代码, 1 = 非常满意)
    order: str
    time_format: str
    pf_map: dict[int, int] = field(default_factory=dict)
    requires_project: bool = True
    already_exists: tuple[str, ...] = (ALREADY_EXISTS,)
    #: the answer's code field and the codes that mean accepted
    code_field: str = "code"
    message_field: str = "msg"
    ok_codes: tuple[str, ...] = ("200", "0")

    def satisfaction(self, wire: int) -> int:
        level = Level.from_wire(wire)
        return level.gbt if self.order == "gbt" else level.wire

    def pf(self, channel: int) -> int:
        return self.pf_map.get(channel, channel)


PROFILES: dict[str, Profile] = {
    "shandong": Profile("shandong", _NATIONAL_NAMES, "wire", "%Y-%m-%d %H:%M:%S"),
    # Zhejiang: pf 6 = 短信, 7 = 系统默认评价; the national 7 (短信) is sent as 6 and
    # a telephone rating (national 6) as 5 (政务大厅其他终端).
    "zhejiang": Profile("zhejiang", _NATIONAL_NAMES, "wire", "%Y-%m-%d %H:%M:%S", pf_map={7: 6, 6: 5}),
    "gbt39046": Profile("gbt39046", _GBT_NAMES, "gbt", "%Y%m%dT%H%M%S"),
}


class UnknownProfile(ValueError):
    pass


def get(name: str) -> Profile:
    try:
        return PROFILES[name]
    except KeyError:
        raise UnknownProfile(f"profile: {name!r} is not a province profile "
                             f"(expected one of {', '.join(PROFILES)})") from None


def record(profile: Profile, r: dict[str, Any], *, area_code: str, data_source: str, tz: ZoneInfo) -> dict[str, Any]:
    """The pushed record of rating ``r`` (a dict with the ratings columns plus
    ``reasons`` (codes) and ``comment``). Absent 办件 fields are left out."""
    rated = r["rated_at"]
    if isinstance(rated, str):
        rated = datetime.fromisoformat(rated.rstrip("Z"))
    values: dict[str, Any] = {
        "project_no": r.get("project_no"),
        "pf": str(profile.pf(r["channel"])),
        "satisfaction": str(profile.satisfaction(r["satisfaction"])),
        "eval_detail": ",".join(r.get("reasons") or []),
        "writing": r.get("comment") or "",
        "assess_time": rated.replace(tzinfo=UTC).astimezone(tz).strftime(profile.time_format),
        "assess_number": r.get("assess_number"),
        "area_code": area_code, "data_source": data_source,
        "user_prop": None if r.get("user_prop") is None else str(r["user_prop"]),
        **{k: r.get(k) for k in ("task_code", "task_name", "dept_code", "user_name")},
    }
    return {profile.names[k]: values[k] for k in ITEMS if values[k] is not None}
