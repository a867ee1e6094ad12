"""The client's page and its bundled assets, served alike by the embedded server and by ``bls relay``:
every asset from ``web/`` (no third-party host), with a strict Content-Security-Policy."""

from __future__ import annotations

import re
from pathlib import Path
from urllib.parse import urlsplit

from aiohttp import web

WEB_DIR = Path(__file__).parent / "web"
CSP = ("default-src 'self'; script-src 'self'; worker-src 'self'; connect-src 'self'; style-src 'self'; "
       "img-src 'self'; media-src 'self'; font-src 'self'; object-src 'none'; base-uri 'none'; "
       "frame-ancestors 'none'; form-action 'none'")
HEADERS = {"Content-Security-Policy": CSP, "X-Content-Type-Options": "nosniff", "Referrer-Policy": "no-referrer",
           "Cache-Control": "no-store", "Cross-Origin-Opener-Policy": "same-origin"}
STATIC = {".js": "text/javascript", ".css": "text/css", ".html": "text/html", ".svg": "image/svg+xml"}
_NAME = re.compile(r"^[a-z][a-z0-9_-]{0,40}\.(js|css|svg)$")
# a link's token: URL-safe base64 of at least 16 bytes (128 bits), at most 64 characters
TOKEN = re.compile(r"^[A-Za-z0-9_-]{22,64}$")


def not_found() -> web.Response:
    return web.Response(status=404, text="This link is not valid or has expired: ask your therapist for a "
                        "new one.", headers=HEADERS)


def page() -> web.Response:
    return web.Response(body=(WEB_DIR / "index.html").read_bytes(), content_type="text/html",
                        charset="utf-8", headers=HEADERS)


async def static(request: web.Request) -> web.Response:
    name = request.match_info["name"]
    path = WEB_DIR / name
    if not _NAME.match(name) or not path.is_file():
        return web.Response(status=404, text="not found", headers=HEADERS)
    return web.Response(body=path.read_bytes(), content_type=STATIC[path.suffix], charset="utf-8",
                        headers=HEADERS)


async def no_icon(_request: web.Request) -> web.Response:
    """Browsers ask for it unprompted: an empty answer, not a 404 in the client's console."""
    return web.Response(status=204)


def foreign_origin(request: web.Request) -> bool:
    """A WebSocket opened by another site's page (in the client's browser, with the link)."""
    origin = request.headers.get("Origin")
    return origin is not None and urlsplit(origin).netloc != request.host
