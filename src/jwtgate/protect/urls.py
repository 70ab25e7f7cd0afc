"""Where the guard may fetch keys and revocations from.

Keys fetched over plain HTTP from another machine could be swapped in transit, and then any token would
verify: :func:`check_fetch_url` refuses ``http://`` except on loopback (a local ``jwtgate serve``)
unless the caller opts in explicitly.
"""

from __future__ import annotations

import ipaddress

import httpx

from jwtgate.errors import ConfigError

__all__ = ["check_fetch_url"]


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def check_fetch_url(url: str, *, allow_insecure_http: bool = False) -> str:
    """Return ``url`` if it is https, or http on loopback (or allowed); raise ConfigError otherwise."""
    try:
        parsed = httpx.URL(url)
    except (httpx.InvalidURL, TypeError) as err:
        raise ConfigError("not a valid URL") from err
    if parsed.scheme == "https" and parsed.host:
        return url
    if parsed.scheme == "http" and parsed.host and (allow_insecure_http or _is_loopback(parsed.host)):
        return url
    raise ConfigError(
        f"refusing to fetch keys or revocations from {parsed.scheme}://{parsed.host}: use https "
        "(plain http only on loopback, or with allow_insecure_http=True)"
    )
