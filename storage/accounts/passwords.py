"""Password hashing with scrypt (hashlib), in a self-describing text form.

Stored as `scrypt$<n>$<r>$<p>$<salt hex>$<hash hex>`, so the cost can be
raised later without breaking the hashes already stored.
"""

import hashlib
import hmac
import secrets

_N = 2**14
_R = 8
_P = 1
_KEY_BYTES = 32
_SALT_BYTES = 16
_MAX_MEMORY = 64 * 1024 * 1024
MIN_PASSWORD_LENGTH = 10


def _derive(password: str, salt: bytes, n: int, r: int, p: int) -> bytes:
    return hashlib.scrypt(
        password.encode(), salt=salt, n=n, r=r, p=p, dklen=_KEY_BYTES, maxmem=_MAX_MEMORY
    )


def hash_password(password: str) -> str:
    """Return the scrypt hash of `password` with a new random salt."""
    salt = secrets.token_bytes(_SALT_BYTES)
    digest = _derive(password, salt, _N, _R, _P)
    return f"scrypt${_N}${_R}${_P}${salt.hex()}${digest.hex()}"


def verify_password(password: str, stored: str) -> bool:
    """Return whether `password` matches a hash made by `hash_password`."""
    parts = stored.split("$")
    if len(parts) != 6 or parts[0] != "scrypt":
        return False
    n, r, p = (int(value) for value in parts[1:4])
    digest = _derive(password, bytes.fromhex(parts[4]), n, r, p)
    return hmac.compare_digest(digest, bytes.fromhex(parts[5]))


def generate_password() -> str:
    """Return a random password of 16 URL-safe characters."""
    return secrets.token_urlsafe(12)
