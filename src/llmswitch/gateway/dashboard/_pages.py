"""The dashboard's static files (shipped in the package, read once) and the headers
every dashboard response carries."""

from __future__ import annotations

import hashlib
import html
from dataclasses import dataclass
from importlib import resources

__all__ = [
    "ASSETS",
    "CSP",
    "PAGE_HEADERS",
    "Asset",
    "dashboard_page",
    "login_page",
]

# No inline script or style anywhere: the page's code is app.js/charts.js from here,
# its data comes from /dashboard/api/ on the same origin, nothing from elsewhere.
CSP = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'"
)
SECURITY_HEADERS: tuple[tuple[str, str], ...] = (
    ("content-security-policy", CSP),
    ("x-content-type-options", "nosniff"),
    ("x-frame-options", "DENY"),
    ("referrer-policy", "same-origin"),
)
# Pages and data hold spend figures: never kept by a browser or a proxy.
PAGE_HEADERS = (*SECURITY_HEADERS, ("cache-control", "no-store"))

_TYPES = {
    ".js": "text/javascript; charset=utf-8",
    ".css": "text/css; charset=utf-8",
    ".html": "text/html; charset=utf-8",
}


@dataclass(frozen=True, slots=True)
class Asset:
    """A static file: its bytes, content type and ETag."""

    body: bytes
    content_type: str
    etag: str

    @property
    def headers(self) -> tuple[tuple[str, str], ...]:
        # Revalidated on every use (cheap: a 304), so an upgraded gateway's new app.js
        # is picked up at once, never an hour later.
        return (*SECURITY_HEADERS, ("cache-control", "no-cache"), ("etag", self.etag))


def _read(name: str) -> bytes:
    return resources.files(__package__).joinpath("static", name).read_bytes()


def _asset(name: str) -> Asset:
    body = _read(name)
    suffix = name[name.rfind(".") :]
    return Asset(body, _TYPES[suffix], '"' + hashlib.sha256(body).hexdigest()[:32] + '"')


# What /dashboard/static/NAME serves (the HTML pages are served by /dashboard itself).
ASSETS = {name: _asset(name) for name in ("app.js", "charts.js", "style.css")}
_INDEX = _read("index.html")
_LOGIN = _read("login.html").decode()


def dashboard_page() -> bytes:
    """The dashboard (for a logged-in admin)."""
    return _INDEX


def login_page(error: str | None = None) -> bytes:
    """The login form, with ``error`` (escaped) above it when given."""
    block = "" if error is None else f'<p class="error" role="alert">{html.escape(error)}</p>'
    return _LOGIN.replace("<!--error-->", block).encode()
