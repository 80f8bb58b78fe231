"""HMAC-SHA256 signatures of hook requests and of the callbacks sent back.

The signature covers `<timestamp>.<body>`, the timestamp in whole Unix
seconds, and is sent as `X-GD-Signature: sha256=<hex>` beside
`X-GD-Timestamp: <timestamp>`.
"""

import hashlib
import hmac

TIMESTAMP_HEADER = "X-GD-Timestamp"
SIGNATURE_HEADER = "X-GD-Signature"
SIGNATURE_SCHEME = "sha256="


def sign(secret: str, timestamp: str, body: bytes) -> str:
    """Return the X-GD-Signature value of `body` sent at `timestamp`."""
    digest = hmac.new(secret.encode(), timestamp.encode() + b"." + body, hashlib.sha256)
    return SIGNATURE_SCHEME + digest.hexdigest()


def signature_matches(secret: str, timestamp: str, body: bytes, received: str) -> bool:
    """Return whether `received` is the signature of `body` at `timestamp`, in constant time."""
    return hmac.compare_digest(sign(secret, timestamp, body), received)
