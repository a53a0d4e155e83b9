"""A day in the hall: the whole system under load and faults, with nothing lost.

One central server (SQLite, or PostgreSQL with --db/--pg), N windows across
sections, each a real headless device process (its own buffer) and a real
uploader process, citizens rating at realistic rates through the console and
serial panels on pty pairs, a queue system opening transaction prompts through
the local API. During the day, scripted faults:

* the network between devices and server cut for a while (fault proxy);
* the server killed with SIGKILL and restarted;
* a device process killed with SIGKILL and restarted;
* a serial panel unplugged and plugged back;
* one device's clock 3 hours wrong and unsynchronised (all day);
* one device's disk full for a while (a real tiny tmpfs), when mounts work.

At the end the ground truth (every press the simulation made and what the
device answered) is compared with the server: every acknowledged rating present
exactly once with the right level, staff, window, section, reasons and misuse
flag; unrated prompts counted; the wrong clock repaired; the stats API and the
public board equal to the truth computed independently. Any difference is
printed and fails the run (exit 1).

    python bench/hall_day.py                    # the full day: 60 windows, 10 minutes
    python bench/hall_day.py --short            # the CI version: a few windows, about a minute
    python bench/hall_day.py --pg               # on a throwaway PostgreSQL cluster
    python -m bench.hall_day --short            # the same, as a package

The package: ``hall`` (the shared record of the day), ``faults`` (the network
cut proxy), ``panel`` (a re-pluggable serial panel), ``window`` (one window's
device and uploader processes), ``citizens`` (who presses what, when),
``day`` (the schedule of the day and its faults), ``oracle`` (the truth
against the server), ``report`` (the table and the JSON line).
"""

from __future__ import annotations

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))
