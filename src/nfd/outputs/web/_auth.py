"""Who may talk to the server: loopback by default, a bearer token otherwise, same-origin browsers only.

Rules (applied by :func:`guard_middleware` to every request):

1. **Bearer token.**  When the server has a token (always when bound to
   anything but a loopback address), every request to ``/api/`` and
   ``/ws`` must carry it: ``Authorization: Bearer <token>``, or -- for
   browsers, whose WebSocket API cannot set headers -- the WebSocket
   subprotocol ``bearer.<token>`` beside ``nfd.v1``.  Without it: 401 with
   ``WWW-Authenticate: Bearer``.  The page itself (``/`` and
   ``/static/``) holds no data and is served without the token; it reads
   the token from the URL fragment (``#token=...``, which browsers never
   send to the server) or asks for it.  Tokens are compared in constant
   time and never logged.
2. **Same origin.**  A request with an ``Origin`` header (every browser
   ``POST`` and WebSocket) must come from the page this server served:
   its origin's ``host:port`` must equal the request's ``Host``.  Otherwise
   403, so that a web page elsewhere cannot drive a loopback server
   through the operator's browser.
3. **Host name.**  On a loopback binding the ``Host`` header must name a
   loopback address (``127.0.0.1``, ``localhost``, ``[::1]``), which
   defeats DNS rebinding.
"""

from __future__ import annotations

import hmac
import ipaddress
import os
import re
import stat
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Final
from urllib.parse import urlsplit

import structlog
from aiohttp import web
from aiohttp.typedefs import Middleware

from nfd.outputs.web._errors import TokenFileError, WebConfigError
from nfd.outputs.web._messages import dumps

__all__ = ["is_loopback", "read_token_file", "guard_middleware", "PROTECTED_PREFIXES", "WS_PROTOCOL", "TOKEN_PATTERN"]

log = structlog.get_logger(__name__)

#: Paths that need the token (when there is one).
PROTECTED_PREFIXES: Final[tuple[str, ...]] = ("/api/", "/ws")
#: The WebSocket subprotocol the server speaks (and echoes).
WS_PROTOCOL: Final[str] = "nfd.v1"
#: The subprotocol prefix that carries a bearer token from a browser.
WS_BEARER_PREFIX: Final[str] = "bearer."
#: What a token may hold: 16 or more URL-safe characters (valid in HTTP headers and subprotocols),
#: e.g. ``python3 -c "import secrets; print(secrets.token_urlsafe(32))"``.
TOKEN_PATTERN: Final[re.Pattern[str]] = re.compile(r"[A-Za-z0-9._~+-]{16,512}")
_LOOPBACK_NAMES: Final[frozenset[str]] = frozenset({"localhost", "localhost.", "ip6-localhost"})
_MAX_TOKEN_FILE: Final[int] = 4096
#: The 401's reason when a protected request carries no token at all.
_TOKEN_REQUIRED: Final[str] = "a bearer token is required (Authorization: Bearer <token>)"


def is_loopback(host: str) -> bool:
    """True when ``host`` is a loopback address or the name ``localhost``.

    Examples
    --------
    >>> is_loopback("127.0.0.1"), is_loopback("::1"), is_loopback("localhost"), is_loopback("0.0.0.0")
    (True, True, True, False)
    """
    name = host.strip().strip("[]").lower()
    if name in _LOOPBACK_NAMES:
        return True
    try:
        return ipaddress.ip_address(name).is_loopback
    except ValueError:
        return False


def read_token_file(path: str | os.PathLike[str]) -> str:
    """The bearer token in ``path``: its content without surrounding white space.

    Never logs the token.

    Raises
    ------
    TokenFileError
        If the file grants group or others any permission (its mode must be
        0600 or 0400: a token others can read is no secret), cannot be read,
        is larger than 4 KiB, or does not hold a token of 16 to 512
        characters from ``A-Z a-z 0-9 . _ ~ + -``.
    """
    p = Path(path)
    try:
        info = p.stat()
        if not stat.S_ISREG(info.st_mode):
            raise TokenFileError(f"web token file {p} is not a regular file")
        if info.st_mode & (stat.S_IRWXG | stat.S_IRWXO):
            raise TokenFileError(
                f"web token file {p} has mode {stat.S_IMODE(info.st_mode):04o}: expected 0600 or 0400 "
                f"(group and others may not read a secret; chmod 600 {p})"
            )
        if info.st_size > _MAX_TOKEN_FILE:
            raise TokenFileError(f"web token file {p} is {info.st_size} bytes: expected one token (< 4 KiB)")
        raw = p.read_bytes()
    except OSError as exc:
        raise TokenFileError(f"web token file {p} cannot be read: {exc.strerror or exc}") from None
    try:
        token = raw.decode("ascii").strip()
    except UnicodeDecodeError:
        raise TokenFileError(f"web token file {p} is not ASCII text: expected one URL-safe token") from None
    if not TOKEN_PATTERN.fullmatch(token):
        raise TokenFileError(
            f"web token file {p} does not hold a usable token: expected 16 to 512 characters from "
            "A-Z a-z 0-9 . _ ~ + - (e.g. from `python3 -c \"import secrets; print(secrets.token_urlsafe(32))\"`)"
        )
    return token


def _error(status: int, error: str, reason: str, headers: dict[str, str] | None = None) -> web.Response:
    return web.Response(
        status=status, body=dumps({"error": error, "reason": reason}), content_type="application/json",
        headers=headers,
    )


def _presented_tokens(request: web.Request) -> list[str]:
    tokens = []
    auth = request.headers.get("Authorization", "")
    scheme, _, credentials = auth.partition(" ")
    if scheme.lower() == "bearer" and credentials.strip():
        tokens.append(credentials.strip())
    for offered in request.headers.get("Sec-WebSocket-Protocol", "").split(","):
        protocol = offered.strip()
        if protocol.startswith(WS_BEARER_PREFIX):
            tokens.append(protocol[len(WS_BEARER_PREFIX):])
    return tokens


def _host_port(netloc: str) -> tuple[str, str]:
    """``(host, port)`` of a ``host[:port]`` string, lower-case, IPv6 brackets removed.

    A malformed one (an unclosed IPv6 bracket: ``[``) is ``("", "?")``: no
    host, loopback or other, so refused rather than a crash (500).
    """
    try:
        parts = urlsplit("//" + netloc)
    except ValueError:
        return "", "?"
    try:
        port = str(parts.port) if parts.port is not None else ""
    except ValueError:
        port = "?"
    return (parts.hostname or "").lower(), port


Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def guard_middleware(token: str | None, *, loopback_only: bool) -> Middleware:
    """The aiohttp middleware enforcing the module's three rules.

    Parameters
    ----------
    token : str or None
        The bearer token, or None when none is required (loopback binding
        without a token file).
    loopback_only : bool
        The server is bound to a loopback address: check ``Host``.
    """
    if token is not None and not TOKEN_PATTERN.fullmatch(token):
        raise WebConfigError("the bearer token must be 16 to 512 characters from A-Z a-z 0-9 . _ ~ + -")
    expected = token.encode("ascii") if token is not None else None

    @web.middleware
    async def guard(request: web.Request, handler: Handler) -> web.StreamResponse:
        host, port = _host_port(request.host)
        if loopback_only and not is_loopback(host):
            return _error(403, "forbidden", f"Host {request.host!r} is not a loopback name on a loopback server")
        origin = request.headers.get("Origin")
        if origin is not None:
            try:
                o = urlsplit(origin)
            except ValueError:  # "http://[": not an origin at all
                return _error(403, "forbidden", f"malformed Origin {origin[:100]!r} refused")
            o_host, o_port = _host_port(o.netloc)
            default = {"http": "80", "https": "443"}.get(o.scheme, "")
            if (o_host, o_port or default) != (host, port or default):
                return _error(403, "forbidden", f"cross-origin request from {origin!r} refused")
        if expected is not None and request.path.startswith(PROTECTED_PREFIXES):
            presented = _presented_tokens(request)
            if not any(hmac.compare_digest(t.encode("utf-8", "replace"), expected) for t in presented):
                reason = "wrong bearer token" if presented else _TOKEN_REQUIRED
                return _error(401, "unauthorized", reason, {"WWW-Authenticate": 'Bearer realm="nfd"'})
        return await handler(request)

    return guard
