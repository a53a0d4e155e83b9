"""The shared record of a hall day: its settings, windows, presses and faults."""

from __future__ import annotations

import json
import random
import tempfile
import threading
import time
from dataclasses import dataclass, field
from datetime import timedelta, timezone
from pathlib import Path
from typing import TYPE_CHECKING

from kiosk.levels import Level

if TYPE_CHECKING:
    from .window import Window

SECTIONS = ["综合服务区", "不动产登记", "社保医保", "公安户政", "税务服务", "企业开办", "公积金", "出入境"]
STAFF_NAMES = ["张伟", "王芳", "李娜", "刘洋", "陈静", "杨帆", "赵磊", "黄敏", "周杰", "吴婷", "徐明", "孙丽"]
SHANGHAI = timezone(timedelta(hours=8))
CLOCK_OFFSET = -3 * 3600
API_TOKEN = "hall-day-queue-system"  # the queue system's [local_api] token on every window
API_AUTH = {"Authorization": f"Bearer {API_TOKEN}"}


def log(msg: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {msg}", flush=True)


@dataclass
class Press:
    """One citizen press and what the device answered (the ground truth)."""

    window: int
    level: Level
    via: str                     # console | serial
    answer: str                  # ack | cooldown | no_prompt | error | lost
    event_id: str | None = None  # console answers carry it
    at: float = 0.0              # true wall time of the answer
    reasons: list[str] = field(default_factory=list)
    prompt_id: str | None = None
    project_no: str | None = None


class Hall:
    def __init__(self, args):
        self.args = args
        self.rng = random.Random(args.seed)
        self.work = Path(tempfile.mkdtemp(prefix="hall-day-"))
        self.prompt_timeout = args.prompt_timeout
        self.cooldown = round(min(2.0, args.mean_gap / 4), 2)
        self.presses: list[Press] = []
        self.presses_lock = threading.Lock()
        self.faults: list[dict] = []
        self.stop_citizens = threading.Event()
        self.latencies: list[float] = []
        self.windows: list[Window] = []

    def fault(self, kind: str, **detail) -> None:
        entry = {"at_s": round(time.monotonic() - self.t0, 1), "fault": kind, **detail}
        self.faults.append(entry)
        log(f"FAULT {kind} {json.dumps(detail, ensure_ascii=False)}")

    def record(self, press: Press) -> None:
        with self.presses_lock:
            self.presses.append(press)
