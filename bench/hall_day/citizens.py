"""The citizens: when each comes to a window, what they press, whether they
give reasons or walk away; every answer is recorded as the truth of the day."""

from __future__ import annotations

import random
import time
from typing import TYPE_CHECKING

import requests

from kiosk.levels import LEVELS, REASONS, Level

from .hall import API_AUTH, Press, log

if TYPE_CHECKING:
    from .hall import Hall
    from .window import Window

LEVEL_WEIGHTS = [0.55, 0.22, 0.11, 0.07, 0.05]  # 非常满意 … 非常不满意


class Citizens:
    """The citizens of one hall day; their presses go to ``hall.record``."""

    def __init__(self, hall: Hall):
        self.hall = hall

    def citizen_loop(self, w: Window) -> None:
        rng = random.Random(self.hall.rng.random())
        while not self.hall.stop_citizens.is_set():
            if self.hall.stop_citizens.wait(rng.expovariate(1.0 / self.hall.args.mean_gap)):
                return
            if w.paused.is_set():
                continue
            with w.lock:
                try:
                    if w.mode == "transaction":
                        self.transaction_citizen(w, rng)
                    else:
                        self.free_citizen(w, rng)
                except Exception as exc:  # a driver bug must not hide the rest of the day
                    log(f"driver error on {w.device_id}: {exc!r}")

    def pick_level(self, rng) -> Level:
        return rng.choices(LEVELS, weights=LEVEL_WEIGHTS)[0]

    def press(self, w: Window, level: Level, rng, prompt=None) -> Press:
        pos = level.position + 1
        p = Press(w.index, level, "serial" if w.serial else "console", "lost",
                  prompt_id=prompt["id"] if prompt else None,
                  project_no=prompt.get("project_no") if prompt else None)
        if w.serial:
            try:
                w.panel.send(f"KEY {pos}")
            except OSError:
                p.answer = "unplugged"
                return p
            got = w.panel.answer(pos)
            p.at = time.time()
            if got is None:
                p.answer = "lost"
            elif got.startswith("ACK"):
                p.answer = "ack"
            else:
                p.answer = got.split()[2] if len(got.split()) > 2 else "nak"
            self.hall.record(p)
            return p
        got = w.console(str(pos), ("ACK", "NAK"))
        p.at = time.time()
        if got is None:
            p.answer = "lost"
            w.kill_inflight.append(p)
            return p
        if got.startswith("ACK"):
            p.answer = "ack"
            p.event_id = got.split("id=")[1]
        elif got.startswith("NAK"):
            parts = got.split()
            p.answer = parts[2]
            if "id=" in got:
                p.event_id = got.split("id=")[1]
        else:
            p.answer = "err"
        self.hall.record(p)
        if p.answer == "ack" and (level.is_bad or False) and not w.serial:
            self.maybe_reasons(w, p, rng)
        return p

    def maybe_reasons(self, w: Window, p: Press, rng) -> None:
        r = rng.random()
        if r < 0.6:
            codes = rng.sample([x.code for x in REASONS[p.level.wire]], rng.randint(1, 2))
            got = w.console("r " + " ".join(codes), ("REASONS",))
            if got and got.startswith("REASONS") and got != "REASONS -":
                p.reasons = codes
        elif r < 0.85:
            w.console("s", ("SKIPPED",))
        # else: the citizen walks away; the step times out with nothing chosen

    def free_citizen(self, w: Window, rng) -> None:
        level = self.pick_level(rng)
        self.press(w, level, rng)
        if rng.random() < 0.05:  # a second, impatient press: stored flagged misuse
            time.sleep(0.05)
            self.press(w, self.pick_level(rng), rng)

    def transaction_citizen(self, w: Window, rng) -> None:
        project = f"P{rng.randrange(10**8):08d}"
        ticket = f"{w.window_no}{rng.randrange(1000):03d}"
        try:
            r = requests.post(f"http://127.0.0.1:{w.api_port}/v1/prompt",
                              json={"project_no": project, "ticket_no": ticket}, headers=API_AUTH, timeout=10)
        except requests.RequestException:
            return
        if r.status_code != 201:
            return  # out of order (disk full): the queue system is told, nothing is owed
        prompt = r.json()
        if rng.random() < 0.12:
            # the citizen leaves without rating: the prompt must become "unrated"
            time.sleep(self.hall.prompt_timeout + 0.8)
            st = self.prompt_state(w, prompt["id"])
            if st == "unrated":
                w.unrated_expected += 1
            else:
                w.prompts_lost += 1
            return
        time.sleep(rng.uniform(0.05, 0.4))
        self.press(w, self.pick_level(rng), rng, prompt=prompt)

    def prompt_state(self, w: Window, pid: str) -> str | None:
        for _ in range(20):
            try:
                r = requests.get(f"http://127.0.0.1:{w.api_port}/v1/prompt/{pid}", headers=API_AUTH, timeout=5)
                if r.status_code == 200:
                    st = r.json()["status"]
                    if st != "pending":
                        return st
            except requests.RequestException:
                pass
            time.sleep(0.5)
        return None
