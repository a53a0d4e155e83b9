"""The technician PIN (a passcode, not a GPIO pin), stored hashed in the config (``[ui] technician_pin``)."""

from __future__ import annotations

import base64
import hashlib
import hmac
import os

from .exceptions import ConfigError

_N, _R, _P = 2**14, 8, 1


def hash_pin(pin: str) -> str:
    if not (pin.isdigit() and 4 <= len(pin) <= 12):
        raise ConfigError("a technician PIN must be 4 to 12 digits")
    salt = os.urandom(16)
    digest = hashlib.scrypt(pin.encode(), salt=salt, n=_N, r=_R, p=_P, dklen=32)
    return "scrypt$%d$%d$%d$%s$%s" % (_N, _R, _P, base64.b64encode(salt).decode(), base64.b64encode(digest).decode())


def check_pin(pin: str, stored: str) -> bool:
    """Whether ``pin`` matches the stored hash. An empty stored value matches nothing."""
    try:
        scheme, n, r, p, salt, digest = stored.split("$")
        if scheme != "scrypt":
            return False
        got = hashlib.scrypt(pin.encode(), salt=base64.b64decode(salt), n=int(n), r=int(r), p=int(p),
                             dklen=len(base64.b64decode(digest)))
        return hmac.compare_digest(got, base64.b64decode(digest))
    except (ValueError, TypeError):
        return False
