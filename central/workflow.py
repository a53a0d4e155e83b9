"""The 差评 closed loop as data (docs/api.md): states, transitions, required fields
and the four-eyes rule.

The API (:func:`central.cases.transition`), the case pages (which buttons and
which form fields to show) and the tests all read :data:`TRANSITIONS`; no
handler carries its own ``if`` chain. A row says which state a case may leave,
where it goes, its Chinese and English label, which fields it requires, which
roles may act (the ``act`` permission: supervisor, admin) and whether the
actor must be another person than the one who moved the case into its current
state (the requester, the one who set the current plan, the one who fed back).
"""

from __future__ import annotations

from dataclasses import dataclass

#: Every state, in the order a case usually passes them.
STATES = ("open", "invalid_requested", "invalid", "verified", "planned", "unfixable_requested",
          "unfixable", "rectified", "fed_back", "closed")

STATE_ZH = {
    "open": "待核实", "invalid_requested": "无效待审", "invalid": "无效", "verified": "核实属实",
    "planned": "限期整改中", "unfixable_requested": "暂不能整改待审", "unfixable": "暂不能整改",
    "rectified": "已整改", "fed_back": "已反馈", "closed": "已办结",
}
STATE_EN = {
    "open": "Open", "invalid_requested": "Invalid: awaiting review", "invalid": "Invalid",
    "verified": "Verified", "planned": "Rectifying by a deadline",
    "unfixable_requested": "Cannot fix now: awaiting review", "unfixable": "Cannot fix now",
    "rectified": "Rectified", "fed_back": "Answered", "closed": "Closed",
}

#: Valid 差评 in these states count as rectified (整改率's numerator).
RECTIFIED = ("rectified", "fed_back", "closed")
#: Valid 差评 in these states are ``bad_unrectified``.
UNRECTIFIED = tuple(s for s in STATES if s not in RECTIFIED and s != "invalid")
#: A case in these states is never overdue.
NOT_OVERDUE = RECTIFIED + ("unfixable", "invalid")
#: The others: a case in these states is overdue once past its deadline (named, not
#: "not in NOT_OVERDUE", so that the (state, deadline) index answers the question).
CAN_BE_OVERDUE = tuple(s for s in STATES if s not in NOT_OVERDUE)
#: The cases someone must act on (the default case list).
NEEDS_ACTION = ("open", "invalid_requested", "verified", "planned", "unfixable_requested", "fed_back")
#: The states whose next step is a four-eyes approval ("mine to approve").
AWAITING_APPROVAL = ("invalid_requested", "unfixable_requested", "fed_back")

#: Fields a transition body may carry beside ``to`` and ``note``.
FIELDS = ("note", "reasons", "due_date", "attachment_ids", "followup")
#: Roles that may act on cases (``auth.User.may("act")``).
ACTORS = ("supervisor", "admin")


@dataclass(frozen=True)
class Transition:
    """One row of the §9 table."""

    from_: str
    to: str
    zh: str
    en: str
    required: tuple[str, ...]
    #: "another person than …": who that person is, or None.
    four_eyes: str | None = None
    optional: tuple[str, ...] = ()
    #: What the note says, for the form (中文, English).
    note: tuple[str, str] = ("说明", "Note")

    @property
    def key(self) -> str:
        """A stable name for the row (tests, buttons): ``from->to``."""
        return f"{self.from_}->{self.to}"


REQUESTER, PLANNER, FEEDBACK = "the requester", "who set the current plan", "who fed back"

TRANSITIONS: tuple[Transition, ...] = (
    Transition("open", "verified", "核实属实", "Verify", ("note",), optional=("reasons",),
               note=("核实情况", "What the call found")),
    Transition("open", "invalid_requested", "申请认定无效", "Request: invalid", ("note",),
               note=("无效理由（误评或恶意评价）", "Why: mistaken or malicious")),
    Transition("invalid_requested", "invalid", "认定无效", "Approve: invalid", ("note",), REQUESTER,
               note=("审批意见", "Decision")),
    Transition("invalid_requested", "open", "驳回", "Reject the request", ("note",), REQUESTER,
               note=("驳回理由", "Why rejected")),
    Transition("verified", "rectified", "立行立改", "Fixed at once", ("note",), note=("整改情况", "What was done")),
    Transition("verified", "planned", "限期整改", "Plan with a deadline", ("note", "due_date", "attachment_ids"),
               note=("整改措施", "The measures")),
    Transition("planned", "planned", "延期", "Extend the deadline", ("note", "due_date"), PLANNER,
               note=("延期理由", "Why later")),
    Transition("planned", "rectified", "已整改", "Rectified", ("note",), note=("整改情况", "What was done")),
    Transition("verified", "unfixable_requested", "申请暂不能整改", "Request: cannot fix now",
               ("note", "attachment_ids"), note=("不能整改的原因", "Why it cannot be fixed now")),
    Transition("unfixable_requested", "unfixable", "暂不能整改", "Approve: cannot fix now", ("note",), REQUESTER,
               note=("审批意见", "Decision")),
    Transition("unfixable_requested", "verified", "驳回", "Reject the request", ("note",), REQUESTER,
               note=("驳回理由", "Why rejected")),
    Transition("rectified", "fed_back", "已反馈", "Answered", ("followup",), optional=("note",),
               note=("反馈情况", "What the citizen was told")),
    Transition("unfixable", "fed_back", "已反馈", "Answered", ("followup",), optional=("note",),
               note=("反馈情况", "What the citizen was told")),
    Transition("fed_back", "closed", "监督复核通过", "Review: pass", ("note",), FEEDBACK,
               note=("复核意见", "Review")),
    Transition("fed_back", "verified", "复核不通过", "Review: fail", ("note",), FEEDBACK,
               note=("不通过的理由", "Why it fails")),
)

#: The four stages of the loop shown on a case page, and the stage each state is in
#: (4 = all done; invalid cases show no progress).
STAGES = (("核实", "Verify"), ("整改", "Rectify"), ("反馈", "Feed back"), ("监督", "Review"))
STAGE_OF = {"open": 0, "invalid_requested": 0, "verified": 1, "planned": 1, "unfixable_requested": 1,
            "rectified": 2, "unfixable": 2, "fed_back": 3, "closed": 4, "invalid": -1}

_BY_KEY = {(t.from_, t.to): t for t in TRANSITIONS}


def rule(from_: str, to: str) -> Transition | None:
    """The row for ``from_ → to``, or None when the table has none."""
    return _BY_KEY.get((from_, to))


def moves_from(state: str) -> list[Transition]:
    """The rows that leave ``state``, in table order (the buttons on a case page)."""
    return [t for t in TRANSITIONS if t.from_ == state]


def targets() -> tuple[str, ...]:
    """Every state a transition can go to."""
    return tuple(dict.fromkeys(t.to for t in TRANSITIONS))
