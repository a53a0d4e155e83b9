"""The upload loop: pending events → ``POST /api/v1/batches`` → verdicts.

Rules (docs/sync.md):

- Events go oldest first, ``batch_size`` at a time, each as the JSON text
  stored in the buffer (never decoded and encoded again). A batch's verdicts
  are written with :meth:`Buffer.mark_results` in one transaction, and only
  after a 200 to that batch whose body is the promised JSON: one result per
  event, every id ours. Anything else marks nothing; the batch is simply sent
  again later (the server deduplicates by event id, so a resend is harmless).
- A backlog drains with ``in_flight`` (2) requests on the wire.
- A 400, or a 200 that does not match the batch, has the stored texts
  checked: damaged events are kept as ``rejected`` so they cannot block the
  queue.
- Failures (refused, reset, timeout, 5xx, a broken body) back off
  exponentially with full jitter up to ``cap`` seconds; the first success
  returns to full speed. 429/503 honour ``Retry-After``.
- 413 splits the batch in halves; a single event that is still too large is
  kept as ``rejected`` locally so it cannot block the queue.
- 401/403 stop uploading (the data stays) until the token file changes or an
  hour passes; meta ``sync.stopped`` says why and the log says so loudly.
- Idle, the loop polls :meth:`Buffer.last_seq` every ``poll_interval`` so a
  new rating leaves within a second or two; a backlog drains back to back.

Time and waiting are injected (``monotonic``, ``wait``, ``rng``) so tests
drive the schedule without sleeping.
"""

from __future__ import annotations

import collections
import json
import logging
import sqlite3
import threading
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from kiosk import status
from kiosk.backoff import Backoff
from kiosk.buffer import Buffer, Pending
from kiosk.clock import SystemClock, rfc3339

from . import SyncError, TransportError
from .client import BATCHES, Client, Reply

log = logging.getLogger(__name__)

STATUSES = ("accepted", "duplicate", "rejected")
#: How often a draining backlog rewrites ``sync.last_ok_at`` (seconds).
OK_META_EVERY = 1.0
#: While stopped by 401/403, try again this often in case the token was restored.
STOPPED_RETRY = 3600.0
_ENVELOPE = json.JSONEncoder(ensure_ascii=False, separators=(",", ":")).encode
#: A backoff longer than this is cut short by a "sync now" within this many seconds.
REQUEST_CHECK = 5.0


class BadResponse(SyncError, ValueError):
    """A 200 whose body is not the promised results."""


def check_results(ids: list[str], body: Any) -> list[tuple[str, str, str | None]]:
    """The verdicts of a 200 answer to a batch of events with ``ids``, or
    BadResponse when it is not one result per event with a known status and
    exactly our ids."""
    if not isinstance(body, dict) or not isinstance(body.get("results"), list):
        raise BadResponse("the answer has no results list")
    results = body["results"]
    if len(results) != len(ids):
        raise BadResponse(f"{len(results)} results for {len(ids)} events")
    wanted = set(ids)
    out: list[tuple[str, str, str | None]] = []
    seen: set[str] = set()
    for r in results:
        if not isinstance(r, dict):
            raise BadResponse("a result is not an object")
        rid, status, error = r.get("id"), r.get("status"), r.get("error")
        if rid not in wanted:
            raise BadResponse(f"a result for an event not in the batch ({str(rid)[:40]!r})")
        if rid in seen:
            raise BadResponse(f"two results for event {rid}")
        if status not in STATUSES:
            raise BadResponse(f"unknown status {str(status)[:40]!r} for event {rid}")
        if error is not None and not isinstance(error, str):
            error = str(error)
        seen.add(rid)
        out.append((rid, status, error))
    return out


@dataclass
class Verdict:
    """What one POST came to."""

    kind: str  # ok | retry | too_large | stop
    results: list[tuple[str, str, str | None]] | None = None
    error: str = ""
    retry_after: float | None = None
    #: the answer may be the batch's own fault (400, or a 200 that does not
    #: match it): look for events damaged in the buffer before sending again
    check: bool = False


@dataclass
class Step:
    """What one round of the loop did."""

    kind: str  # idle | ok | failed | stopped
    sent: int = 0  # events that got a verdict
    delay: float = 0.0  # for failed: how long to wait
    error: str = ""


class _Request(threading.Thread):
    """One request on a daemon thread (a process stopping on SIGTERM never
    waits for it: an unanswered batch is simply sent again later)."""

    def __init__(self, fn: Callable[[Any], Verdict], arg: Any):
        super().__init__(name="upload-request", daemon=True)
        self._fn, self._arg = fn, arg
        self._result: Verdict | None = None
        self._error: BaseException | None = None
        self.start()

    def run(self) -> None:
        try:
            self._result = self._fn(self._arg)
        except BaseException as exc:  # handed to the caller by result()
            self._error = exc

    def done(self) -> bool:
        return not self.is_alive()

    def result(self) -> Verdict:
        self.join()
        if self._error is not None:
            raise self._error
        if self._result is None:
            raise RuntimeError("the upload request ended without a verdict")
        return self._result


class Uploader:
    """Drains one buffer to one server (see the module docstring)."""

    def __init__(self, buffer: Buffer, client: Client, *, device_id: str, batch_size: int = 200,
                 clock=None, backoff: Backoff | None = None, poll_interval: float = 0.25,
                 recheck_interval: float = 30.0, token_source=None,
                 monotonic: Callable[[], float] | None = None, pipeline: int = 20, in_flight: int = 2):
        self.buffer = buffer
        self.client = client
        self.device_id = device_id
        self.batch_size = max(1, min(500, int(batch_size)))
        self.limit = self.batch_size
        self.clock = clock or SystemClock()
        self.backoff = backoff or Backoff()
        self.poll_interval = poll_interval
        self.recheck_interval = recheck_interval
        self.token_source = token_source
        self.monotonic = monotonic or self.clock.monotonic
        self.stopped: str | None = None
        self._stopped_at = 0.0
        self._error_recorded = False
        self.verdicts: Counter = Counter()  # accepted/duplicate/rejected since start
        self._ok_written = -1.0
        self.pipeline = pipeline
        self.in_flight = max(1, int(in_flight))
        self._stop_event: threading.Event | None = None
        self.alive_until = float("inf")
        self._last_request = self._read_request()
        self._nudged = threading.Event()

    # --- one request ------------------------------------------------------------

    def batch_body(self, events: list[Pending]) -> bytes:
        """The batch as UTF-8 JSON: the envelope around the events' stored
        text, which goes out as it is (never decoded and encoded again)."""
        head = _ENVELOPE({
            "schema": 1,
            "device_id": self.device_id,
            "sent_at": rfc3339(self.clock.time()),
            "boot_id": self.clock.boot_id,
            "sent_mono_ms": int(self.clock.mono_ms()),
        })
        return "".join((head[:-1], ',"events":[', ",".join([e.payload for e in events]), "]}")).encode("utf-8")

    def send(self, events: list[Pending]) -> Verdict:
        """POST one batch and classify the answer. Never raises for network faults."""
        try:
            body = self.batch_body(events)
        except (TypeError, UnicodeError) as exc:  # a stored payload that is not text
            return Verdict("retry", error=f"an event in the buffer cannot be sent: {exc}", check=True)
        try:
            reply = self.client.post_raw(BATCHES, body)
        except TransportError as exc:
            return Verdict("retry", error=str(exc))
        return self.classify([e.id for e in events], reply)

    def classify(self, ids: list[str], reply: Reply) -> Verdict:
        status = reply.status
        if status == 200:
            try:
                return Verdict("ok", results=check_results(ids, reply.json()))
            except (BadResponse, ValueError) as exc:
                return Verdict("retry", error=f"200 with an unusable body: {exc}", check=True)
        if status == 413:
            return Verdict("too_large", error=f"413 batch too large: {reply.brief()}")
        if status in (401, 403):
            what = "token rejected" if status == 401 else "device id refused for this token"
            return Verdict("stop", error=f"{status} {what}: {reply.brief()}")
        if status in (429, 503):
            return Verdict("retry", error=f"{status} server busy: {reply.brief()}",
                           retry_after=reply.retry_after(self.clock.time()))
        if 300 <= status < 400:
            return Verdict("retry", error=f"{status} redirect to {reply.headers.get('location')!r}: "
                                          "fix [sync] server")
        if status == 400:
            log.error("the server refused a batch as malformed (400): %s", reply.brief())
        return Verdict("retry", error=f"{status} from the server: {reply.brief()}",
                       retry_after=reply.retry_after(self.clock.time()) if status >= 500 else None,
                       check=status == 400)

    # --- one round ----------------------------------------------------------------

    def step(self) -> Step:
        """Upload the oldest pending batch (splitting it on 413) and record the
        verdicts. A full batch starts the backlog path, which sends up to
        ``pipeline`` batches in this round (0 or 1 = one batch per round)."""
        events = self.buffer.pending(self.limit)
        if not events:
            return Step("idle")
        if self.pipeline > 1 and len(events) == self.limit:
            return self._backlog(events)
        sent, verdict = self._upload(events)
        return self._conclude(sent, verdict)

    def _conclude(self, sent: int, verdict: Verdict | None) -> Step:
        if verdict is None:
            self._ok()
            return Step("ok", sent=sent)
        if verdict.kind == "stop":
            self._stop(verdict.error)
            return Step("stopped", sent=sent, error=verdict.error)
        if sent:
            self._ok()
        delay = self.backoff.failure(verdict.retry_after)
        self._error(verdict.error, delay)
        return Step("failed", sent=sent, delay=delay, error=verdict.error)

    def _record(self, verdict: Verdict) -> None:
        results = verdict.results or []
        self.buffer.mark_results(results)
        self.verdicts.update(status for _, status, _ in results)

    def _upload(self, events: list[Pending], verdict: Verdict | None = None) -> tuple[int, Verdict | None]:
        """Send ``events`` (unless ``verdict`` is already their answer); returns
        (how many got a verdict, the failing Verdict or None)."""
        verdict = verdict or self.send(events)
        if verdict.kind == "ok":
            self._record(verdict)
            return len(events), None
        if verdict.check:
            damaged = self._set_aside_damaged(events)
            if damaged:
                rest = [e for e in events if e.id not in damaged]
                if not rest:
                    return len(events), None
                done, failed = self._upload(rest)
                return done + len(damaged), failed
        if verdict.kind != "too_large":
            return 0, verdict
        if len(events) == 1:
            error = f"too large for the server on its own ({verdict.error})"
            log.error("event %s is larger than the server accepts; kept as rejected", events[0].id)
            self.buffer.mark_results([(events[0].id, "rejected", error)])
            return 1, None
        half = len(events) // 2
        if half < self.limit:
            log.warning("the server refused %d events as too large; sending at most %d per batch",
                        len(events), half)
            self.limit = half
        done, failed = self._upload(events[:half])
        if failed is not None:
            return done, failed
        more, failed = self._upload(events[half:])
        return done + more, failed

    def _set_aside_damaged(self, events: list[Pending]) -> set[str]:
        """Mark events whose stored text is damaged as rejected (kept, never
        sent again) so they cannot block the queue; returns their ids."""
        damaged = [(e.id, "rejected", f"damaged in the buffer: {why}") for e in events
                   if (why := e.damage()) is not None]
        for event_id, _, error in damaged:
            log.error("event %s cannot be uploaded, kept as rejected: %s", event_id, error)
        if damaged:
            self.buffer.mark_results(damaged)
            self.verdicts.update(["rejected"] * len(damaged))
        return {event_id for event_id, _, _ in damaged}

    def _backlog(self, first: list[Pending]) -> Step:
        """Drain a backlog with up to ``in_flight`` requests on the wire: while
        the server stores one batch it already receives and checks the next,
        and the verdicts of a batch are written while later ones travel.

        Batches are read and sent oldest first, and each batch's verdicts are
        written only from its own 200 (a later batch may be acknowledged before
        an earlier one: the server does not depend on the order). A failure
        ends the round after the requests already on the wire have been
        answered; those that succeeded are recorded, the failed batch is handled
        as in the plain path (nothing of it is marked) and sent again later."""
        window: collections.deque[tuple[list[Pending], _Request]] = collections.deque()
        last_seq, more = first[-1].seq, len(first) == self.limit
        ahead: list[Pending] | None = first  # the next batch, read before it is due
        sent = 0
        batches = 0

        def read_ahead() -> None:
            nonlocal ahead, last_seq, more
            if ahead is None and more and batches < self.pipeline and not self._stopping():
                ahead = self.buffer.pending(self.limit, after_seq=last_seq)
                if ahead:
                    last_seq, more = ahead[-1].seq, len(ahead) == self.limit
                else:
                    ahead, more = None, False

        def fill() -> None:
            nonlocal ahead, batches
            while len(window) < self.in_flight:
                read_ahead()
                if ahead is None:
                    return
                window.append((ahead, _Request(self.send, ahead)))
                ahead = None
                batches += 1

        try:
            fill()
            while window:
                read_ahead()  # from the buffer while the requests are on the wire
                events, request = window.popleft()
                verdict = request.result()
                self._expect(4 * self.client.timeout + 20.0)  # each batch of the round is progress
                if verdict.kind != "ok":
                    sent += self._settle(window)
                    done, failed = self._upload(events, verdict)
                    return self._conclude(sent + done, failed)
                fill()  # the next request goes out before this batch's verdicts are written
                self._record(verdict)
                sent += len(events)
                if window:
                    self._ok()
            return self._conclude(sent, None)
        finally:
            # Never leave a request unobserved on the wire: the next round must follow it.
            # (Left here only by an exception: answers are not recorded, their batches go again.)
            self._settle(window, record=False)

    def _settle(self, window: collections.deque, *, record: bool = True) -> int:
        """Wait for the requests still on the wire; record the ones that
        succeeded and return how many events they carried."""
        done = 0
        while window:
            events, request = window.popleft()
            try:
                verdict = request.result()
            except Exception:
                continue
            if record and verdict.kind == "ok":
                self._record(verdict)
                done += len(events)
        return done

    def _stopping(self) -> bool:
        return self._stop_event is not None and self._stop_event.is_set()

    def close(self) -> None:
        """Release the HTTP session."""
        self.client.close()

    # --- state -------------------------------------------------------------------

    def _ok(self) -> None:
        self.backoff.success()
        now = self.monotonic()
        if now - self._ok_written >= OK_META_EVERY or self._ok_written < 0:
            # A draining backlog records its progress about once a second, not per batch.
            self.buffer.set_meta(status.SYNC_LAST_OK_AT, rfc3339(self.clock.time()))
            self._ok_written = now
        if self._error_recorded or self.stopped:
            self.buffer.set_meta(status.SYNC_LAST_ERROR, None)
            if self.stopped:
                log.warning("uploading again: the server accepted the token")
                self.buffer.set_meta(status.SYNC_STOPPED, None)
            self._error_recorded = False
            self.stopped = None

    def _error(self, error: str, delay: float) -> None:
        level = logging.WARNING if self.backoff.failures <= 3 else logging.ERROR
        log.log(level, "upload failed (%d in a row): %s; next try in %.1f s",
                self.backoff.failures, error, delay)
        self._record_error(error)

    def _record_error(self, error: str) -> None:
        try:
            self.buffer.set_meta(status.SYNC_LAST_ERROR, error)
            self.buffer.set_meta(status.SYNC_LAST_ERROR_AT, rfc3339(self.clock.time()))
            self._error_recorded = True
        except OSError as exc:
            log.warning("cannot record the sync error in the buffer: %s", exc)

    def _stop(self, error: str) -> None:
        self._stopped_at = self.monotonic()
        log.critical("UPLOADING STOPPED: %s. Events are kept in the buffer. Re-provision the device "
                     "or fix [sync] token / token_file; the uploader resumes when the token file "
                     "changes (or tries again in %d minutes).", error, STOPPED_RETRY // 60)
        self._record_error(error)
        try:
            self.buffer.set_meta(status.SYNC_STOPPED, error)
        finally:
            self.stopped = error

    def may_resume(self) -> bool:
        """While stopped: True when the token changed or STOPPED_RETRY has passed."""
        if self.stopped is None:
            return True
        if self.token_source is not None:
            token = self.token_source.reload()
            if token is not None:
                log.warning("the token changed; trying to upload again")
                self.client.token = token
                return True
        return self.monotonic() - self._stopped_at >= STOPPED_RETRY

    # --- "sync now" from the technician screen ---------------------------------------

    def _read_request(self) -> Any:
        try:
            return self.buffer.get_meta(status.SYNC_REQUESTED)
        except (OSError, sqlite3.Error):
            return None

    def nudge(self) -> None:
        """The server answered someone else (the heartbeat): stop backing off."""
        self._nudged.set()

    def requested(self) -> bool:
        """True once for each new "sync now" (buffer meta ``sync.requested``,
        written by the device process) and once after each :meth:`nudge`."""
        if self._nudged.is_set():
            self._nudged.clear()
            # a wait the server asked for (Retry-After) is always honoured
            if self.backoff.failures and not self.backoff.server_asked:
                log.info("the server answers again: retrying now instead of backing off")
                return True
        current = self._read_request()
        if current is not None and current != self._last_request:
            self._last_request = current
            log.info("sync requested at the device (%s): trying now", current)
            return True
        return False

    def _pause(self, seconds: float, wait: Callable[[float], bool]) -> bool:
        """Wait ``seconds`` (a backoff), in slices of at most REQUEST_CHECK so a
        "sync now" cuts it short; True when stopping."""
        remaining = seconds
        while remaining > 0:
            step = min(remaining, REQUEST_CHECK)
            if wait(step):
                return True
            remaining -= step
            if remaining > 0 and self.requested():
                return False
        return False

    # --- loops -------------------------------------------------------------------

    def _expect(self, seconds: float) -> None:
        """The loop promises its next sign of life within ``seconds`` (for the
        service watchdog: a loop past ``alive_until`` is hung)."""
        self.alive_until = self.monotonic() + seconds + 10.0

    def run(self, stop: threading.Event, wait: Callable[[float], bool] | None = None) -> None:
        """Upload until ``stop`` is set. ``wait(seconds)`` sleeps and returns
        True when it is time to stop (default: ``stop.wait``)."""
        raw_wait = wait or stop.wait
        self._stop_event = stop

        def pause(seconds: float) -> bool:
            self._expect(seconds)
            return raw_wait(seconds)

        # A round may split a batch (413) into several requests, each with its timeout.
        round_time = 4 * self.client.timeout + 20.0
        seen = -1
        while not stop.is_set():
            if self.stopped is not None and not (self.may_resume() or self.requested()):
                if pause(self.poll_interval * 4):
                    break
                continue
            try:
                self._expect(round_time)
                seen = self.buffer.last_seq()
                result = self.step()
            except (OSError, sqlite3.Error) as exc:
                # The buffer itself failed (locked too long, disk trouble): wait and retry.
                delay = self.backoff.failure()
                log.error("buffer error while uploading: %s; retrying in %.1f s", exc, delay)
                if self._pause(delay, pause):
                    break
                continue
            if result.kind == "ok":
                continue
            if result.kind == "failed":
                if self._pause(result.delay, pause):
                    break
                continue
            if result.kind == "idle" and self._idle(seen, pause):
                break

    def _idle(self, seen: int, wait: Callable[[float], bool]) -> bool:
        """Wait for a new event (or the periodic recheck); True when stopping."""
        deadline = self.monotonic() + self.recheck_interval
        while self.monotonic() < deadline:
            if wait(self.poll_interval):
                return True
            try:
                if self.buffer.last_seq() != seen or self.requested():
                    return False
            except (OSError, sqlite3.Error) as exc:
                log.warning("cannot read the buffer: %s", exc)
        return False

    def drain(self, wait: Callable[[float], bool], max_failures: int = 3) -> int:
        """Upload what is pending now (not what arrives meanwhile).

        Gives up after ``max_failures`` failures in a row or a 401/403 and
        returns how many of the events pending at the start got no verdict.
        """
        target = self.buffer.counts()["pending"]
        done = failures = 0
        while done < target:
            result = self.step()
            done += result.sent
            if result.kind == "idle":
                return 0
            if result.kind == "stopped":
                break
            if result.kind == "ok":
                failures = 0
                continue
            failures += 1
            if failures >= max_failures or wait(result.delay):
                break
        return max(0, target - done)
