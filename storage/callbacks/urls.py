"""Callback URL checks: http or https, to a host on the administrator's allowlist."""

from urllib.parse import urlsplit

from griddispatch.errors import ValidationError

_DEFAULT_PORTS = {"http": 80, "https": 443}


def parse_allowlist(text: str) -> frozenset[str]:
    """Return the allowlist entries of a comma-separated setting, lower-cased.

    An entry is a host name (any port) or host:port (that port only).
    """
    return frozenset(entry.strip().lower() for entry in text.split(",") if entry.strip())


def check_callback_url(url: str, allowlist: frozenset[str]) -> str:
    """Return `url` if a callback may be sent there, else raise ValidationError naming the host."""
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError as exc:
        raise ValidationError("callback URL {url!r} is invalid: {exc}", url=url, exc=exc) from exc
    if parts.scheme not in _DEFAULT_PORTS or not parts.hostname:
        raise ValidationError(
            "callback URL {url!r} is invalid: it needs http:// or https:// and a host", url=url
        )
    if parts.username or parts.password:
        raise ValidationError(
            "callback URL is invalid: it must not contain a user name or password"
        )
    host = parts.hostname.lower()
    effective_port = port or _DEFAULT_PORTS[parts.scheme]
    if host in allowlist or f"{host}:{effective_port}" in allowlist:
        return url
    host_port = f"{host}:{effective_port}"
    raise ValidationError(
        "callback host {host_port} is not on the allowlist; ask the administrator to add it "
        "to GRIDDISPATCH_CALLBACK_ALLOWLIST",
        host_port=host_port,
    )
