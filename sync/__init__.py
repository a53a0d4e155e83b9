"""The uploader: moves the device's buffered events to the central server.

``kiosk sync`` runs it as its own process beside the device; both open the
same buffer file. See docs/sync.md.
"""

from kiosk.exceptions import KioskError


class SyncError(KioskError):
    """Base class of the uploader's errors."""


class TransportError(SyncError, OSError):
    """The request did not get a complete HTTP answer (refused, reset, timed
    out, truncated). What the server did with it is unknown; resending is safe
    because the server deduplicates by event id."""


__all__ = ["SyncError", "TransportError"]
