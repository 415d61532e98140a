"""Request and response guards of the dashboard: the `Host` check against DNS rebinding and the headers every
response carries, error pages included.

DNS rebinding: a web page on `evil.example` re-points its own name at 127.0.0.1 and then reads the dashboard
with the victim's browser; the request arrives with `Host: evil.example`. So a request is answered only when its
`Host` (port ignored) names the bound address: for a loopback bind `localhost` or a loopback literal; for a
named host that name; for a wildcard bind (`0.0.0.0`, `::`) any IP literal, `localhost` or this machine's
name (a rebinding attack needs a domain name, never an IP literal). Anything else gets 400.
"""

from __future__ import annotations

import ipaddress
import socket
from collections.abc import Awaitable, Callable
from typing import Any

# Sent on every response (pages, thumbnails, static files and error pages).
SECURITY_HEADERS = [
    (b"x-content-type-options", b"nosniff"),
    (b"x-frame-options", b"DENY"),
    (b"referrer-policy", b"no-referrer"),
]


def _ip(name: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    try:
        return ipaddress.ip_address(name.strip("[]"))
    except ValueError:
        return None


def host_name(header: str) -> str:
    """The host of a `Host` header without its port, lower-cased (`[::1]:8765` -> `::1`)."""
    header = header.strip().lower()
    if header.startswith("["):
        return header[1:].split("]", 1)[0]
    return header.rsplit(":", 1)[0] if header.count(":") == 1 else header


def host_allowed(header: str, bound: str) -> bool:
    """Whether a request with `Host: header` may be answered by a server bound to `bound`."""
    name = host_name(header)
    if not name:
        return False
    bound = bound.lower().strip("[]")
    ip, bound_ip = _ip(name), _ip(bound)
    if bound_ip is not None and bound_ip.is_unspecified:
        return ip is not None or name in ("localhost", socket.gethostname().lower(), socket.getfqdn().lower())
    if bound == "localhost" or (bound_ip is not None and bound_ip.is_loopback):
        return name == "localhost" or (ip is not None and ip.is_loopback)
    return name == bound or (ip is not None and bound_ip is not None and ip == bound_ip)


class HeaderGuard:
    """ASGI middleware: refuse a foreign `Host` with 400, add `SECURITY_HEADERS` to every response.

    Args:
        app: the wrapped ASGI app.
        host: the address the server binds.
    """

    def __init__(self, app: Callable[..., Awaitable[None]], host: str) -> None:
        self.app = app
        self.host = host

    async def __call__(self, scope: dict[str, Any], receive: Callable, send: Callable) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def send_guarded(message: dict[str, Any]) -> None:
            if message["type"] == "http.response.start":
                names = {k.lower() for k, _ in message.get("headers", [])}
                message["headers"] = list(message.get("headers", [])) + [
                    h for h in SECURITY_HEADERS if h[0] not in names]
            await send(message)

        headers = dict(scope.get("headers") or [])
        header = headers.get(b"host", b"").decode("latin-1")
        if not host_allowed(header, self.host):
            body = f"refused: Host {header[:100]!r} is not the address this dashboard serves ({self.host})\n".encode()
            await send_guarded({"type": "http.response.start", "status": 400,
                                "headers": [(b"content-type", b"text/plain; charset=utf-8"),
                                            (b"content-length", str(len(body)).encode())]})
            await send_guarded({"type": "http.response.body", "body": body})
            return
        await self.app(scope, receive, send_guarded)
