"""``GET /`` and ``GET /static/{name}``: the live page, shipped in the package (nothing from the internet).

The files live in ``nfd/outputs/web/static/`` and are read once, when the
server starts: ``index.html`` (the page), ``live.css``, ``live.js`` (plots drawn on
``<canvas>`` from the WebSocket) and ``favicon.svg``.  Every answer carries a
Content-Security-Policy that allows only this origin, so the page cannot
load anything from elsewhere even by mistake.
"""

from __future__ import annotations

from importlib import resources
from typing import Final

from aiohttp import web

from nfd.outputs.web._errors import WebConfigError

__all__ = ["PAGE_FILES", "load_page_files", "add_page_routes"]

#: The files served, with their media types.
PAGE_FILES: Final[dict[str, str]] = {
    "index.html": "text/html",
    "live.css": "text/css",
    "live.js": "text/javascript",
    "favicon.svg": "image/svg+xml",
}
_CSP: Final[str] = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"
)
_HEADERS: Final[dict[str, str]] = {
    "Content-Security-Policy": _CSP,
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-cache",
}


def load_page_files() -> dict[str, bytes]:
    """The page's files, read from the package.

    Raises
    ------
    WebConfigError
        If a file is missing from the installed package.
    """
    folder = resources.files("nfd.outputs.web").joinpath("static")
    out: dict[str, bytes] = {}
    for name in PAGE_FILES:
        try:
            out[name] = folder.joinpath(name).read_bytes()
        except OSError as exc:
            raise WebConfigError(f"the live page's file static/{name} is missing from the nfd package: {exc}") from None
    return out


def add_page_routes(app: web.Application, files: dict[str, bytes]) -> None:
    """Serve ``files`` at ``/`` (``index.html``) and ``/static/<name>``."""

    def responder(name: str) -> web.Response:
        return web.Response(body=files[name], content_type=PAGE_FILES[name], charset="utf-8", headers=_HEADERS)

    async def index(request: web.Request) -> web.StreamResponse:
        return responder("index.html")

    async def static(request: web.Request) -> web.StreamResponse:
        name = request.match_info["name"]
        if name not in files or name == "index.html":
            raise web.HTTPNotFound(text=f"no such file: {name}")
        return responder(name)

    app.router.add_get("/", index)
    app.router.add_get("/static/{name}", static)
