"""Every error the kiosk raises derives from :class:`KioskError`.

Subclasses also inherit the matching builtin, so callers that only know the
standard library still catch them (``except OSError`` catches a buffer write
failure, ``except ValueError`` a bad config value).
"""


class KioskError(Exception):
    """Base class of every kiosk error."""


class ConfigError(KioskError, ValueError):
    """The configuration file is missing, unreadable or holds a bad value.

    The message names the file, the key, the value and what was expected.
    """

    def __init__(self, message: str, *, path: str | None = None, key: str | None = None):
        self.path = path
        self.key = key
        where = []
        if path:
            where.append(str(path))
        if key:
            where.append(key)
        super().__init__(": ".join(where + [message]) if where else message)


class BufferStorageError(KioskError, OSError):
    """Base class of the durable buffer's errors (the builtin :class:`BufferError`
    is about the buffer protocol, not storage)."""


class BufferWriteError(BufferStorageError):
    """An event could not be made durable (disk full, I/O error, locked too long).

    The rating it carried must NOT be acknowledged.
    """


class BufferCorruptError(BufferStorageError):
    """The buffer file is not a readable SQLite database or fails its integrity check."""


class SessionError(KioskError, RuntimeError):
    """A session command that is not valid in the current state."""


class UnknownReasonError(KioskError, ValueError):
    """A reason code that is not in the national dictionary, or not one of the rated level's."""


class HardwareError(KioskError, OSError):
    """A button panel could not be opened or talked to."""
