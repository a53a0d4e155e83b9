"""Request signatures for the provincial platform.

``none`` sends the app id (and key, when set) and a timestamp and nonce.
``sm2`` also signs, with SM2 over SM3 (gmssl), the canonical string::

    app_id + timestamp + nonce + sm3_hex(body)

``timestamp`` is milliseconds since the epoch, ``nonce`` 32 hex digits, the
signature is hex (r‖s, 128 digits). The header names are configured
(``[province] header_*``). Keys are files holding hex (private: 64 digits,
public: 128 digits, optionally prefixed ``04``) or PEM.
"""

from __future__ import annotations

import secrets
import time
from pathlib import Path
from typing import Any


class SignerError(ValueError):
    pass


def sm3_hex(data: bytes) -> str:
    from gmssl import func, sm3

    return sm3.sm3_hash(func.bytes_to_list(data))


def canonical(app_id: str, timestamp: str, nonce: str, body: bytes) -> str:
    return app_id + timestamp + nonce + sm3_hex(body)


def _pem_private_hex(text: str) -> str:
    """The 32-byte private scalar of a PEM EC private key (SEC1 or PKCS#8)."""
    import base64

    der = base64.b64decode("".join(line for line in text.splitlines() if line and not line.startswith("-----")))
    marker = bytes([0x04, 0x20])  # OCTET STRING of 32 bytes: the private key
    i = der.find(marker)
    if i < 0:
        raise SignerError("no 32-byte private key in the PEM")
    return der[i + 2:i + 34].hex()


def _pem_public_hex(text: str) -> str:
    import base64

    der = base64.b64decode("".join(line for line in text.splitlines() if line and not line.startswith("-----")))
    i = der.find(bytes([0x03, 0x42, 0x00, 0x04]))  # BIT STRING holding an uncompressed point
    if i < 0:
        raise SignerError("no uncompressed SM2 public key in the PEM")
    return der[i + 4:i + 68].hex()


def read_key(path: str, what: str, *, private: bool) -> str:
    """A key file's hex value; errors name the file and what was expected."""
    if not path:
        raise SignerError(f"[province] {what}: required when sign = \"sm2\"")
    try:
        text = Path(path).read_text("ascii").strip()
    except (OSError, UnicodeDecodeError) as exc:
        raise SignerError(f"[province] {what}: cannot read {path}: {exc}") from None
    if text.startswith("-----BEGIN"):
        return _pem_private_hex(text) if private else _pem_public_hex(text)
    hexed = text.lower()
    if not private and len(hexed) == 130 and hexed.startswith("04"):
        hexed = hexed[2:]
    want = 64 if private else 128
    if len(hexed) != want or any(c not in "0123456789abcdef" for c in hexed):
        raise SignerError(f"{path}: expected {want} hex digits or a PEM key ([province] {what})")
    return hexed


def public_from_private(private_hex: str) -> str:
    from gmssl import sm2

    c = sm2.CryptSM2(private_key=private_hex, public_key="")
    return c._kg(int(private_hex, 16), sm2.default_ecc_table["g"])


class Signer:
    """Headers for one request (``cfg`` is :class:`central.config.ProvinceSettings`)."""

    def __init__(self, cfg: Any):
        self.cfg = cfg
        self._sm2 = None
        if cfg.sign == "sm2":
            from gmssl import sm2

            private = read_key(cfg.private_key_file, "private_key_file", private=True)
            self._sm2 = sm2.CryptSM2(private_key=private, public_key=public_from_private(private))

    def headers(self, body: bytes, *, now_ms: int | None = None, nonce: str | None = None) -> dict[str, str]:
        cfg = self.cfg
        ts = str(now_ms if now_ms is not None else int(time.time() * 1000))
        nonce = nonce or secrets.token_hex(16)
        out = {"Content-Type": "application/json; charset=utf-8", cfg.header_timestamp: ts,
               cfg.header_nonce: nonce}
        if cfg.app_id:
            out[cfg.header_app_id] = cfg.app_id
        if cfg.app_key:
            out[cfg.header_app_key] = cfg.app_key
        if self._sm2 is not None:
            data = canonical(cfg.app_id, ts, nonce, body).encode("utf-8")
            out[cfg.header_signature] = self._sm2.sign_with_sm3(data, secrets.token_hex(32))
        return out


def verify(public_hex: str, signature: str, app_id: str, timestamp: str, nonce: str, body: bytes) -> bool:
    """Whether ``signature`` is the SM2 signature of the canonical string (the platform's check)."""
    from gmssl import sm2

    c = sm2.CryptSM2(private_key="", public_key=public_hex)
    return bool(c.verify_with_sm3(signature, canonical(app_id, timestamp, nonce, body).encode("utf-8")))
