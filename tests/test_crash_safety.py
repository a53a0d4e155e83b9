"""SIGKILL at random moments never loses a rating whose append had returned."""

import os
import random
import signal
import subprocess
import sys
import textwrap
import time

from kiosk.buffer import Buffer

CHILD = textwrap.dedent("""
    import sys
    from kiosk.buffer import Buffer
    from kiosk.clock import SystemClock
    from kiosk.events import Window, rating
    from kiosk.levels import LEVELS
    buf = Buffer(sys.argv[1], repair=True)
    clock = SystemClock()
    win = Window("A01", "综合服务区", "1001", "张三", 4)
    i = 0
    out = sys.stdout
    while True:
        ev = rating(clock, LEVELS[i % 5], "console", win)
        buf.append(ev)                 # durable when this returns
        out.write(ev["id"] + "\\n")     # only then reported to the parent
        out.flush()
        i += 1
""")

ROUNDS = 20


def test_killed_writer_loses_nothing_it_reported(tmp_path):
    path = tmp_path / "buffer.db"
    rng = random.Random(20261201)
    reported: list[str] = []
    for _ in range(ROUNDS):
        child = subprocess.Popen([sys.executable, "-c", CHILD, str(path)], stdout=subprocess.PIPE,
                                 text=True, bufsize=1)
        want = rng.randint(1, 40)
        got = 0
        # read a random number of acknowledgements, then a random extra delay, then kill
        while got < want:
            line = child.stdout.readline()
            assert line, "child died early"
            reported.append(line.strip())
            got += 1
        time.sleep(rng.random() * 0.02)
        os.kill(child.pid, signal.SIGKILL)
        rest = child.stdout.read()  # acknowledgements written before the kill
        reported.extend(x for x in rest.split("\n") if x.strip() and len(x.strip()) == 36)
        child.wait()
        assert child.returncode == -signal.SIGKILL
    buf = Buffer(path)
    stored = {row[0] for row in buf.conn.execute("SELECT id FROM events")}
    missing = [i for i in reported if i not in stored]
    assert not missing, f"{len(missing)} acknowledged ratings lost"
    assert len(reported) >= ROUNDS
    assert buf.integrity_ok()
    assert buf.incidents() == []
