"""The five satisfaction levels, their two REVERSED public code orders, the
evaluation channels and the national reason dictionary (wire codes: docs/api.md; buttons left to right: docs/hardware.md).

There is one internal enum, :class:`Level`. A bare number is never passed
around without saying which order it is in:

* ``wire`` - the national interface order used on the wire and in the API
  (``satisfaction``): 5 = 非常满意 … 1 = 非常不满意;
* ``gbt`` - the GB/T 39046 满意度代码: 1 = 非常满意 … 5 = 非常不满意;
* ``position`` - the button index on a screen or panel, 0 = leftmost = 非常满意.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass

from .exceptions import UnknownReasonError


class Level(enum.Enum):
    VERY_SATISFIED = "very_satisfied"
    SATISFIED = "satisfied"
    BASIC = "basic"
    DISSATISFIED = "dissatisfied"
    VERY_DISSATISFIED = "very_dissatisfied"

    @property
    def wire(self) -> int:
        """National interface order (``satisfaction``): 5 best … 1 worst."""
        return _WIRE[self]

    @property
    def gbt(self) -> int:
        """GB/T 39046 满意度代码: 1 best … 5 worst."""
        return 6 - _WIRE[self]

    @property
    def position(self) -> int:
        """Button index, 0 = leftmost = 非常满意."""
        return 5 - _WIRE[self]

    @property
    def zh(self) -> str:
        return _ZH[self]

    @property
    def en(self) -> str:
        return _EN[self]

    @property
    def is_bad(self) -> bool:
        """差评 = 不满意 + 非常不满意."""
        return _WIRE[self] <= 2

    @property
    def reasons(self) -> tuple[Reason, ...]:
        return REASONS[_WIRE[self]]

    @classmethod
    def from_wire(cls, code: int) -> Level:
        """Level for a ``satisfaction`` code in national interface order (5 = 非常满意)."""
        wire = _as_code(code)
        level = _FROM_WIRE.get(wire) if wire is not None else None
        if level is None:
            raise ValueError(f"satisfaction (wire order) must be 1..5, got {code!r}")
        return level

    @classmethod
    def from_gbt(cls, code: int) -> Level:
        """Level for a GB/T 39046 满意度代码 (1 = 非常满意)."""
        c = _as_code(code)
        level = _FROM_WIRE.get(6 - c) if c is not None else None
        if level is None:
            raise ValueError(f"GB/T 39046 code must be 1..5, got {code!r}")
        return level

    @classmethod
    def from_position(cls, index: int) -> Level:
        """Button index 0..4, left to right."""
        if not isinstance(index, int) or not 0 <= index <= 4:
            raise ValueError(f"button position must be 0..4 (left to right), got {index!r}")
        return LEVELS[index]


def _as_code(code) -> int | None:
    """An integral code given as int or digit string; None for anything else."""
    if isinstance(code, bool):
        return None
    if isinstance(code, int):
        return code
    if isinstance(code, str) and code.strip().isdigit():
        return int(code)
    return None


_WIRE = {
    Level.VERY_SATISFIED: 5,
    Level.SATISFIED: 4,
    Level.BASIC: 3,
    Level.DISSATISFIED: 2,
    Level.VERY_DISSATISFIED: 1,
}
_FROM_WIRE = {v: k for k, v in _WIRE.items()}
_ZH = {
    Level.VERY_SATISFIED: "非常满意",
    Level.SATISFIED: "满意",
    Level.BASIC: "基本满意",
    Level.DISSATISFIED: "不满意",
    Level.VERY_DISSATISFIED: "非常不满意",
}
_EN = {
    Level.VERY_SATISFIED: "Very satisfied",
    Level.SATISFIED: "Satisfied",
    Level.BASIC: "Basically satisfied",
    Level.DISSATISFIED: "Dissatisfied",
    Level.VERY_DISSATISFIED: "Very dissatisfied",
}

#: The levels in screen order, left to right (非常满意 … 非常不满意).
LEVELS: tuple[Level, ...] = (
    Level.VERY_SATISFIED,
    Level.SATISFIED,
    Level.BASIC,
    Level.DISSATISFIED,
    Level.VERY_DISSATISFIED,
)

#: Wire codes of the bad levels (差评).
BAD_WIRE = frozenset({2, 1})
#: Wire codes of the good levels counted in 好评率.
GOOD_WIRE = frozenset({5, 4, 3})


def good_rate(levels: dict) -> float | None:
    """好评率 = (非常满意 + 满意 + 基本满意) / 评价数, or None when there is no rating.

    ``levels`` maps wire codes (int or str) to counts.
    """
    counts = {int(k): int(v) for k, v in levels.items()}
    total = sum(counts.values())
    if not total:
        return None
    return sum(counts.get(c, 0) for c in GOOD_WIRE) / total


class Channel(enum.IntEnum):
    """评价渠道 (``pf``), national interface codes."""

    PC = 1
    MOBILE = 2
    QR_CODE = 3
    HALL_TABLET = 4
    HALL_OTHER_TERMINAL = 5
    PHONE = 6
    SMS = 7

    @property
    def zh(self) -> str:
        return _CHANNEL_ZH[self]


_CHANNEL_ZH = {
    Channel.PC: "PC",
    Channel.MOBILE: "移动端",
    Channel.QR_CODE: "二维码",
    Channel.HALL_TABLET: "政务大厅平板电脑",
    Channel.HALL_OTHER_TERMINAL: "政务大厅其他终端",
    Channel.PHONE: "电话",
    Channel.SMS: "短信",
}


@dataclass(frozen=True)
class Reason:
    """One entry of the national 测评指标 (evalDetail) dictionary."""

    code: str
    wire: int  # the level it belongs to, wire order
    zh: str
    en: str

    @property
    def level(self) -> Level:
        return Level.from_wire(self.wire)


def _reasons(wire: int, rows: list[tuple[str, str, str]]) -> tuple[Reason, ...]:
    return tuple(Reason(code, wire, zh, en) for code, zh, en in rows)


#: National reason dictionary by level (wire order), in display order.
REASONS: dict[int, tuple[Reason, ...]] = {
    5: _reasons(5, [
        ("510", "一窗受理一次办结", "One window, done in one visit"),
        ("511", "可以先受理后补材料", "Accepted first, papers completed later"),
        ("512", "不用提交证明", "No certificates needed"),
        ("513", "可以全程网上办理", "Can be done entirely online"),
        ("514", "可以使用手机办理", "Can be done on a phone"),
        ("515", "可以就近办理", "Can be done nearby"),
        ("516", "无需材料直接办理", "Done without any papers"),
        ("517", "服务热情效率高", "Warm and efficient service"),
    ]),
    4: _reasons(4, [
        ("406", "填写一张表单就可完成申报", "One form was enough"),
        ("407", "在线提交材料窗口核验", "Papers sent online, checked at the window"),
        ("408", "一张清单告知全部申报材料", "One list named every paper needed"),
        ("409", "用告知承诺减免申报材料", "Fewer papers thanks to a written pledge"),
        ("410", "可以在线预约办理", "Could book online"),
        ("411", "跑大厅一次办完", "Done in one visit to the hall"),
        ("412", "可以使用自助机办理", "Could use a self-service machine"),
        ("413", "服务态度较好", "Good service attitude"),
    ]),
    3: _reasons(3, [
        ("307", "一次性告知需要补正的材料", "Told at once what to add"),
        ("308", "提供申报材料样本", "Sample papers provided"),
        ("309", "在承诺的时间内办结", "Done within the promised time"),
        ("310", "办事指南指引准确", "The service guide was accurate"),
        ("311", "按办事指南要求的材料即可办理", "The guide's papers were enough"),
        ("312", "可以快递送达", "Results delivered by courier"),
        ("313", "跑动次数与承诺的一致", "Visits as many as promised"),
        ("314", "服务态度一般", "Average service attitude"),
    ]),
    2: _reasons(2, [
        ("207", "没有提供材料样本", "No sample papers provided"),
        ("208", "没有提供材料清单", "No list of papers provided"),
        ("209", "未在承诺时间内办结", "Not done within the promised time"),
        ("210", "同样内容的证明材料被要求多次提交", "Same certificate asked for more than once"),
        ("211", "承诺网办但无法在线办理", "Promised online, but not possible online"),
        ("212", "在线预约办理后到实体大厅重复取号排队", "Booked online, still had to queue again"),
        ("213", "窗口人员业务不熟练", "Window staff not familiar with the work"),
        ("214", "服务态度生硬", "Curt service attitude"),
    ]),
    1: _reasons(1, [
        ("108", "在办事指南之外增加新的审批条件", "Conditions added beyond the service guide"),
        ("109", "需提供办事指南之外的申报材料", "Papers asked beyond the service guide"),
        ("110", "无理由超过法定办理时间", "Legal time limit exceeded without reason"),
        ("111", "办事指南提供样本有错", "The guide's sample was wrong"),
        ("112", "承诺在线收取申报材料实际无法收取", "Online submission promised but impossible"),
        ("113", "多头跑窗口和部门", "Sent between several windows and offices"),
        ("114", "跑动次数与承诺的不一致", "More visits than promised"),
        ("115", "服务态度差效率低", "Poor attitude, low efficiency"),
    ]),
}

#: Every reason by its code.
REASON_BY_CODE: dict[str, Reason] = {r.code: r for rs in REASONS.values() for r in rs}


def check_reasons(wire: int, codes) -> list[str]:
    """Return ``codes`` as a list of strings, or raise :class:`UnknownReasonError`
    (a ValueError) naming the first code that is not in the dictionary for the
    level ``wire`` (wire order)."""
    level = Level.from_wire(wire)
    out = []
    for code in codes:
        code = str(code)
        reason = REASON_BY_CODE.get(code)
        if reason is None:
            raise UnknownReasonError(f"reason {code!r} is not in the national dictionary")
        if reason.wire != level.wire:
            raise UnknownReasonError(
                f"reason {code!r} belongs to level {reason.wire} ({reason.level.zh}), "
                f"not to satisfaction {level.wire} ({level.zh})"
            )
        if code not in out:
            out.append(code)
    return out
