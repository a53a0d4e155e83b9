"""A device speaks only for itself: where its events say they happened is
checked against what the server has registered for the device.

The window and section come from the registration: the device's remote
settings where a supervisor set them, else its enrolment (``kiosk admin
add-device --window … --section …``). An event that claims another window or
section is stored with the registered values and its claim is kept beside them
(``claimed_window_no``, ``claimed_section``) for audit; a device without a
registered window or section keeps its claim. A staff number that is neither in
the roster nor one of the device's registered staff numbers is stored as sent
and flagged (``staff_flagged``).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from .auth import DeviceIdentity
from .remote import get_settings, staff


@dataclass(frozen=True)
class Registration:
    """The registered window, section and staff of one device, and which of the
    staff numbers in question are in the roster."""

    window_no: str
    section: str
    staff_no: str
    staff: frozenset[str]
    roster: frozenset[str]

    def place(self, fields: dict[str, Any]) -> dict[str, Any]:
        """The stored window, section and staff of an event's ``fields``, with the
        claim kept where it differs and the staff flag."""
        claim_window, claim_section = fields["window_no"], fields["section"]
        window = self.window_no or claim_window
        section = self.section or claim_section
        staff_no = fields["staff_no"] or self.staff_no
        return {"window_no": window, "section": section, "staff_no": staff_no,
                "claimed_window_no": claim_window if claim_window and claim_window != window else None,
                "claimed_section": claim_section if claim_section and claim_section != section else None,
                "staff_flagged": staff_no not in self.staff and staff_no not in self.roster}


def registration(conn: Connection, device: DeviceIdentity, staff_numbers: Iterable[str]) -> Registration:
    """What the server has registered for ``device``; ``staff_numbers`` are looked up in the roster."""
    values = get_settings(conn, device.device_id)["values"]
    window = values.get("window") or device.window_no or ""
    section = values.get("section") or device.section or ""
    staff_no = values.get("staff_no") or device.staff_no or ""
    wanted = sorted({s for s in staff_numbers if s})
    roster = frozenset(conn.execute(sa.select(staff.c.staff_no).where(staff.c.staff_no.in_(wanted))).scalars()
                       ) if wanted else frozenset()
    return Registration(window, section, staff_no,
                        frozenset(s for s in (device.staff_no, values.get("staff_no")) if s), roster)
