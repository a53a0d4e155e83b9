"""The rating session: what happens when a citizen presses a button.

A pure state machine: no Kivy, GPIO, serial or HTTP. The clock and the sink
(the buffer's ``append``) are injected. The touch screen, the button panels,
the console and the local API all drive this one machine, always from one
thread (see :mod:`kiosk.device`).

States::

    free mode         RATING ──press──▶ [REASONS] ──▶ THANKS ──▶ RATING
    transaction mode  IDLE ──prompt──▶ RATING ──press──▶ [REASONS] ──▶ THANKS ──▶ IDLE
                                        └──timeout──▶ unrated event ──▶ IDLE
    any state         ──append fails──▶ OUT_OF_ORDER ──probe ok / press stored──▶ home

Rules (docs/hardware.md, docs/local_api.md):

* A rating is acknowledged (``Outcome.stored``) only after the sink returned,
  i.e. after it is durable. When the sink fails the press is NOT acknowledged
  and the session goes out of order.
* Free mode: a press within ``cooldown_seconds`` of the previous counted
  rating is still stored, flagged ``misuse``, and answered ``cooldown``. The
  thanks screen lasts until the cooldown is over, so the touch screen never
  offers live buttons whose press would be flagged; when the rating screen is
  shown during a cooldown anyway (back from out of order), the view carries
  ``cooldown_left`` and the screen shows the buttons as not ready. A misuse
  press is never thanked: the session stays where it is and the view carries
  ``misuse_notice`` until the cooldown ends.
* Paused (暂停服务, set by the staff): prompts are refused
  (:class:`SessionPaused`) and presses too (``no_prompt``, nothing stored);
  an open reasons step or thanks screen finishes first.
* Transaction mode: one rating per prompt; a press with no open prompt is
  refused (``no_prompt``) and nothing is stored. An unanswered prompt becomes an
  ``unrated`` event after ``prompt_timeout_seconds``.
* The reasons step always follows a 差评, and follows the other levels when
  ``reasons_for = "all"``; it can be skipped and times out. Chips selected
  before the timeout are kept.
* The device never invents a rating.
"""

from __future__ import annotations

import enum
import logging
import uuid
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from typing import Any, Protocol

from . import events
from .clock import Clock
from .exceptions import BufferWriteError, SessionError
from .levels import Level

log = logging.getLogger(__name__)

PROBE_INTERVAL = 2.0
KEEP_PROMPTS = 1000


class SessionPaused(SessionError):
    """The window is paused (暂停服务): prompts are refused until it is resumed."""


class State(enum.Enum):
    IDLE = "idle"
    RATING = "rating"
    REASONS = "reasons"
    THANKS = "thanks"
    OUT_OF_ORDER = "out_of_order"


class Sink(Protocol):
    def append(self, event: dict[str, Any]) -> int: ...
    def probe(self) -> None: ...


@dataclass(frozen=True)
class Settings:
    """The parts of the config the session needs (``[ui]`` and the window)."""

    window: events.Window
    mode: str = "free"
    cooldown_seconds: float = 5.0
    prompt_timeout_seconds: float = 60.0
    reasons_timeout_seconds: float = 20.0
    thanks_seconds: float = 3.0
    reasons_for: str = "bad"
    #: Reason codes offered per level (wire order); None = the whole national list.
    reasons: dict[int, tuple[str, ...]] | None = None

    @classmethod
    def from_config(cls, cfg) -> Settings:
        return cls(
            window=events.Window(window_no=cfg.device.window, section=cfg.device.section,
                                 staff_no=cfg.staff.no, staff_name=cfg.staff.name,
                                 channel=cfg.device.channel),
            mode=cfg.ui.mode,
            cooldown_seconds=float(cfg.ui.cooldown_seconds),
            prompt_timeout_seconds=float(cfg.ui.prompt_timeout_seconds),
            reasons_timeout_seconds=float(cfg.ui.reasons_timeout_seconds),
            thanks_seconds=float(cfg.ui.thanks_seconds),
            reasons_for=cfg.ui.reasons_for,
        )


@dataclass
class Prompt:
    """An open request for one rating (一事一评), bound to a case/ticket."""

    id: str
    project_no: str | None
    ticket_no: str | None
    staff_no: str
    staff_name: str
    deadline: float  # monotonic
    #: The 办件 (:func:`kiosk.events.check_project`), carried by the rating or unrated
    #: event; out of the repr, so a logged prompt never shows the applicant's name.
    project: dict[str, Any] | None = field(default=None, repr=False)


@dataclass(frozen=True)
class Outcome:
    """What became of one press. ``stored`` is True only once the event is durable.

    ``reason``: None (a counted rating), ``cooldown`` (stored, flagged misuse),
    ``no_prompt`` (refused, nothing stored: no open prompt, or the window is
    paused) or ``error`` (not stored: buffer failure).
    """

    position: int
    source: str
    stored: bool
    reason: str | None = None
    level: Level | None = None
    event: dict[str, Any] | None = None
    error: str | None = None

    @property
    def accepted(self) -> bool:
        return self.stored and self.reason is None

    @property
    def ack(self) -> bool:
        """Whether a panel may send ACK: the press was made durable as a counted rating."""
        return self.accepted


@dataclass(frozen=True)
class View:
    """A snapshot of the session for screens and panels."""

    state: State
    mode: str
    window: events.Window
    prompt: Prompt | None = None
    level: Level | None = None
    reasons_draft: tuple[str, ...] = ()
    seconds_left: float | None = None
    error: str | None = None
    #: The reason codes to offer on the reasons screen (for ``level``).
    offered_reasons: tuple[str, ...] = ()
    #: Free mode: seconds until a press counts again (None when it counts now).
    cooldown_left: float | None = None
    #: A press was just stored as misuse (within the cooldown): say so, never thank it.
    misuse_notice: bool = False
    #: The staff set 暂停服务: no prompts, no presses.
    paused: bool = False


@dataclass
class _Pending:
    """The rating whose reasons step is open."""

    event: dict[str, Any]
    draft: list[str] = field(default_factory=list)


class Session:
    def __init__(self, settings: Settings, sink: Sink, clock: Clock,
                 on_change: Callable[[View], None] | None = None):
        if settings.mode not in ("free", "transaction"):
            raise ValueError(f"mode must be 'free' or 'transaction', got {settings.mode!r}")
        self.settings = settings
        self.sink = sink
        self.clock = clock
        self.on_change = on_change
        self.window = settings.window
        self.state = self.home
        self.prompt: Prompt | None = None
        self._pending: _Pending | None = None
        self._deadline: float | None = None
        self._error: str | None = None
        self._next_probe: float = 0.0
        self._unrated_due: Prompt | None = None  # an expired prompt whose event is not yet durable
        self._ready_at: float | None = None  # free mode: when a press counts again
        self._misuse_notice = False
        self.paused = False
        self.prompts: OrderedDict[str, dict[str, Any]] = OrderedDict()

    # --- queries -----------------------------------------------------------

    @property
    def home(self) -> State:
        return State.RATING if self.settings.mode == "free" else State.IDLE

    def view(self) -> View:
        now = self.clock.monotonic()
        deadline = self._deadline
        if self.state is State.RATING and self.prompt is not None:
            deadline = self.prompt.deadline
        pending = self._pending
        rated = Level.from_wire(pending.event["satisfaction"]) if pending else None
        level = rated if rated is not None else self._thanks_level
        return View(
            state=self.state,
            mode=self.settings.mode,
            window=self.window,
            prompt=self.prompt,
            level=level,
            reasons_draft=tuple(pending.draft) if pending else (),
            seconds_left=None if deadline is None else max(0.0, deadline - now),
            error=self._error,
            offered_reasons=self.offered_reasons(rated) if rated is not None else (),
            cooldown_left=self.cooldown_left(),
            misuse_notice=self._misuse_notice,
            paused=self.paused,
        )

    def cooldown_left(self) -> float | None:
        """Free mode: seconds until a press is counted again; None when it is counted now."""
        if self._ready_at is None:
            return None
        left = self._ready_at - self.clock.monotonic()
        return left if left > 0 else None

    def offered_reasons(self, level: Level) -> tuple[str, ...]:
        """The reason codes to offer after a rating at ``level``."""
        chosen = (self.settings.reasons or {}).get(level.wire)
        return tuple(chosen) if chosen else tuple(r.code for r in level.reasons)

    _thanks_level: Level | None = None

    def next_deadline(self) -> float | None:
        """The monotonic time at which :meth:`tick` has something to do."""
        times = [t for t in (self._deadline, self._ready_at,
                             self.prompt.deadline if self.prompt else None,
                             self._next_probe if self.state is State.OUT_OF_ORDER else None) if t is not None]
        return min(times) if times else None

    def prompt_status(self, prompt_id: str) -> dict[str, Any] | None:
        """``{"id", "status": pending|rated|unrated, "satisfaction"?}`` for a recent prompt."""
        return self.prompts.get(prompt_id)

    # --- commands ----------------------------------------------------------

    def press(self, position: int, source: str) -> Outcome:
        """A citizen pressed button ``position`` (0 = leftmost = 非常满意)."""
        level = Level.from_position(position)
        now = self.clock.monotonic()
        prompt = self.prompt
        if self.paused:  # like a window with no open prompt: refused, nothing stored
            return Outcome(position, source, stored=False, reason="no_prompt", level=level)
        if self.settings.mode == "transaction" and (
                prompt is None or self.state not in (State.RATING, State.OUT_OF_ORDER)):
            return Outcome(position, source, stored=False, reason="no_prompt", level=level)
        misuse = self.settings.mode == "free" and self._ready_at is not None and now < self._ready_at
        staff = self._staff_for(prompt)
        event = events.rating(
            self.clock, level, source, staff, misuse=misuse,
            project_no=prompt.project_no if prompt else None,
            ticket_no=prompt.ticket_no if prompt else None,
            prompt_id=prompt.id if prompt else None, project=prompt.project if prompt else None)
        try:
            self.sink.append(event)
        except BufferWriteError as exc:
            self._fail(str(exc))
            return Outcome(position, source, stored=False, reason="error", level=level, error=str(exc))
        self._recovered()
        if misuse:
            log.info("press %s from %s within cooldown: stored as misuse", position + 1, source)
            self._misuse_notice = True
            self._notify()
            return Outcome(position, source, stored=True, reason="cooldown", level=level, event=event)
        self._misuse_notice = False
        if self.settings.mode == "free" and self.settings.cooldown_seconds > 0:
            self._ready_at = now + self.settings.cooldown_seconds
        if prompt is not None:
            self._close_prompt(prompt, "rated", satisfaction=level.wire)
        if self._pending is not None:
            self._finish_reasons()
        if level.is_bad or self.settings.reasons_for == "all":
            self._pending = _Pending(event)
            self._enter(State.REASONS, self.settings.reasons_timeout_seconds)
        else:
            self._enter(State.THANKS, self.settings.thanks_seconds, level=level)
        return Outcome(position, source, stored=True, level=level, event=event)

    def open_prompt(self, project_no: str | None = None, ticket_no: str | None = None,
                    staff_no: str | None = None, project: dict[str, Any] | None = None) -> Prompt:
        """Ask for one rating (the queue system, the staff trigger, serial ``TRIG``).

        ``project``: the other 办件 fields (already checked by
        :func:`kiosk.events.check_project`); with ``project_no`` they make the
        event's ``project``. An unanswered earlier prompt becomes ``unrated``
        first; an open reasons step is closed (its selected chips kept).
        """
        if self.state is State.OUT_OF_ORDER:
            raise SessionError(f"device out of order: {self._error}")
        if self.paused:
            raise SessionPaused("the window is paused (暂停服务): no prompt opened; "
                                "resume it from the technician screen or POST /v1/pause {\"paused\": false}")
        if self.prompt is not None:
            self._expire_prompt(self.prompt)
            if self.state is State.OUT_OF_ORDER:
                raise SessionError(f"device out of order: {self._error}")
        if self._pending is not None:
            self._finish_reasons()
            if self.state is State.OUT_OF_ORDER:
                raise SessionError(f"device out of order: {self._error}")
        staff_no = staff_no or self.window.staff_no
        staff_name = self.window.staff_name if staff_no == self.window.staff_no else ""
        project_no = _opt(project_no)
        bound = {k: v for k, v in (project or {}).items() if k != "project_no"}
        prompt = Prompt(id=str(uuid.uuid4()), project_no=project_no, ticket_no=_opt(ticket_no),
                        staff_no=staff_no, staff_name=staff_name,
                        deadline=self.clock.monotonic() + self.settings.prompt_timeout_seconds,
                        project=(({"project_no": project_no} if project_no else {}) | bound) or None)
        self.prompt = prompt
        self._remember(prompt.id, {"id": prompt.id, "status": "pending", "project_no": prompt.project_no,
                                   "ticket_no": prompt.ticket_no, "staff_no": staff_no})
        self._enter(State.RATING, None)
        return prompt

    def select_reasons(self, codes) -> None:
        """The chips currently selected on the reasons screen (kept on timeout)."""
        if self._pending is None:
            raise SessionError("no reasons step is open")
        from .levels import check_reasons
        self._pending.draft = check_reasons(self._pending.event["satisfaction"], codes)
        if self.state is State.REASONS:  # a citizen who is choosing gets the full time again
            self._deadline = self.clock.monotonic() + self.settings.reasons_timeout_seconds
        self._notify()

    def submit_reasons(self, codes, comment: str | None = None, phone: str | None = None) -> dict | None:
        """Store the reasons for the rating just made, then thank the citizen.

        Returns the ``rating_detail`` event, or None when nothing was given.
        Raises ValueError for a code of another level (nothing stored, step stays open)
        and BufferWriteError when the detail could not be stored.
        """
        if self._pending is None:
            raise SessionError("no reasons step is open")
        rating_event = self._pending.event
        if not list(codes) and not (comment or "").strip() and not (phone or "").strip():
            self.skip_reasons()
            return None
        detail = events.rating_detail(self.clock, rating_event, codes, comment=comment, phone=phone)
        try:
            self.sink.append(detail)
        except BufferWriteError as exc:
            self._pending = None
            self._fail(str(exc))
            raise
        self._pending = None
        self._enter(State.THANKS, self.settings.thanks_seconds,
                    level=Level.from_wire(rating_event["satisfaction"]))
        return detail

    def skip_reasons(self) -> None:
        if self._pending is None:
            raise SessionError("no reasons step is open")
        level = Level.from_wire(self._pending.event["satisfaction"])
        self._pending = None
        self._enter(State.THANKS, self.settings.thanks_seconds, level=level)

    def set_paused(self, paused: bool) -> View:
        """暂停服务 on or off (the staff, through the local API or the technician screen).

        Pausing closes an open prompt as ``unrated`` (the citizen it was for
        is told the window is paused); a reasons step or thanks screen
        finishes first. Returns the view after the change.
        """
        paused = bool(paused)
        if paused == self.paused:
            return self.view()
        self.paused = paused
        log.warning("window %s %s", self.window.window_no, "paused (暂停服务)" if paused else "resumed")
        if paused and self.prompt is not None and self.state is State.RATING:
            self._expire_prompt(self.prompt)
            if self.state is State.OUT_OF_ORDER:
                return self.view()
        if self.state in (State.RATING, State.IDLE) and self.prompt is None:
            self._enter(self.home, None)
        else:
            self._notify()
        return self.view()

    def set_staff(self, staff_no: str, staff_name: str) -> None:
        """The staff member on duty changed (technician screen, remote settings)."""
        self.window = replace(self.window, staff_no=staff_no, staff_name=staff_name)
        self._notify()

    def set_window(self, window: events.Window) -> None:
        self.window = window
        self._notify()

    def apply(self, settings: Settings) -> None:
        """New settings (remote settings, a staff switch) without a restart.

        A mode change takes effect at once when the screen is at home; an open
        prompt, reasons step or thanks screen finishes first.
        """
        if settings.mode not in ("free", "transaction"):
            raise ValueError(f"mode must be 'free' or 'transaction', got {settings.mode!r}")
        was_home = self.state is self.home and self.prompt is None
        self.settings = settings
        self.window = settings.window
        if was_home and self.state is not self.home:
            self._enter(self.home, None)
        else:
            self._notify()

    def tick(self) -> None:
        """Run the timers that are due (prompt, reasons, thanks, recovery probe)."""
        now = self.clock.monotonic()
        if self._unrated_due is not None and now >= self._next_probe:
            self._expire_prompt(self._unrated_due)
        if self.state is State.OUT_OF_ORDER:
            if now >= self._next_probe:
                self._next_probe = now + PROBE_INTERVAL
                try:
                    self.sink.probe()
                except BufferWriteError as exc:
                    self._error = str(exc)
                else:
                    self._recovered()
            return
        if self._ready_at is not None and now >= self._ready_at:
            self._ready_at = None
            self._misuse_notice = False
            self._notify()  # the buttons are ready again
        if self.prompt is not None and now >= self.prompt.deadline and self.state is State.RATING:
            self._expire_prompt(self.prompt)
            return
        if self._deadline is not None and now >= self._deadline:
            if self.state is State.REASONS:
                self._finish_reasons()
            elif self.state is State.THANKS:
                self._enter(State.RATING if self.prompt else self.home, None)

    # --- internals ---------------------------------------------------------

    def _staff_for(self, prompt: Prompt | None) -> events.Window:
        if prompt is None or prompt.staff_no == self.window.staff_no:
            return self.window
        return replace(self.window, staff_no=prompt.staff_no, staff_name=prompt.staff_name)

    def _enter(self, state: State, seconds: float | None, level: Level | None = None) -> None:
        self.state = state
        self._deadline = None if seconds is None else self.clock.monotonic() + seconds
        if state is State.THANKS and self._ready_at is not None:
            # free mode: thanks lasts until the cooldown is over, so the rating
            # screen comes back only when its buttons count (the same float: no gap)
            assert self._deadline is not None, "thanks always lasts thanks_seconds"
            self._deadline = max(self._deadline, self._ready_at)
        self._thanks_level = level
        self._notify()

    def _finish_reasons(self) -> None:
        """Close the reasons step: keep what was selected, else store nothing."""
        pending = self._pending
        if pending is not None and pending.draft:
            try:
                self.submit_reasons(pending.draft)
            except BufferWriteError:
                return
        else:
            self.skip_reasons()

    def _expire_prompt(self, prompt: Prompt) -> None:
        event = events.unrated(self.clock, self._staff_for(prompt), prompt_id=prompt.id,
                               project_no=prompt.project_no, ticket_no=prompt.ticket_no,
                               project=prompt.project)
        try:
            self.sink.append(event)
        except BufferWriteError as exc:
            self._unrated_due = prompt
            if self.prompt is prompt:
                self.prompt = None
            self._fail(str(exc))
            return
        self._unrated_due = None
        self._close_prompt(prompt, "unrated")
        if self.state is State.RATING:
            self._enter(self.home, None)

    def _close_prompt(self, prompt: Prompt, status: str, **extra) -> None:
        if self.prompt is prompt:
            self.prompt = None
        entry = self.prompts.get(prompt.id, {"id": prompt.id})
        entry.update(status=status, **extra)
        self._remember(prompt.id, entry)

    def _remember(self, prompt_id: str, entry: dict[str, Any]) -> None:
        self.prompts[prompt_id] = entry
        self.prompts.move_to_end(prompt_id)
        while len(self.prompts) > KEEP_PROMPTS:
            self.prompts.popitem(last=False)

    def _fail(self, error: str) -> None:
        log.error("buffer write failed, device out of order: %s", error)
        self._error = error
        self._next_probe = self.clock.monotonic() + PROBE_INTERVAL
        self._enter(State.OUT_OF_ORDER, None)

    def _recovered(self) -> None:
        if self.state is State.OUT_OF_ORDER:
            log.warning("buffer writable again, device back in service")
            self._error = None
            self._enter(State.RATING if self.prompt else self.home, None)

    def _notify(self) -> None:
        if self.on_change is not None:
            self.on_change(self.view())


def _opt(value: str | None) -> str | None:
    if value is None:
        return None
    value = str(value).strip()
    return value or None
