"""Who may use the development pages: this machine only, in debug mode, with a form token.

The pages run migrations from a browser, so they defend against what another site can make a
developer's browser do:

- **Loopback only.** ``REMOTE_ADDR`` must be ``127.0.0.0/8`` or ``::1``: ``flask run --host
  0.0.0.0`` must not give the local network a migration button.
- **A loopback Host header.** A DNS-rebinding site reaches the server from the loopback address
  but sends its own name in ``Host``; only ``localhost``, ``*.localhost`` and loopback
  addresses are accepted.
- **A token in the form (CSRF).** Another site can make a browser *send* a form, not *read* the
  page holding the token: an HMAC of its issue time under a per-process secret, so it needs no
  ``SECRET_KEY`` or session (a restarted server asks for a reload).
- **An Origin header, when sent, naming a loopback origin too.**
- **No framing, no scripts**, by a Content-Security-Policy on every page.

The pages render with their own Jinja environment, not the app's: the pending page answers
*instead of* the app while its database is behind, so the app's context processors (which may
query the very tables that are missing), template overrides and globals must not run.
"""

from __future__ import annotations

import functools
import hashlib
import hmac
import ipaddress
import secrets
import time
from typing import Any
from urllib.parse import urlsplit

import jinja2
from flask import Request, Response

#: Sent with every page of ours: nothing loads from elsewhere, nothing runs, nothing frames it.
HEADERS = {
    "Content-Security-Policy": (
        "default-src 'none'; style-src 'unsafe-inline'; img-src 'self' data:; "
        "form-action 'self'; frame-ancestors 'none'; base-uri 'none'"
    ),
    "X-Frame-Options": "DENY",
    "Cache-Control": "no-store",
    # Not "no-referrer": with it Chromium sends "Origin: null" on the Apply form.
    "Referrer-Policy": "same-origin",
    "X-Content-Type-Options": "nosniff",
}


def is_loopback_address(value: str | None) -> bool:
    """``127.0.0.0/8``, ``::1``, or an IPv4 loopback address written as IPv6."""
    if not value:
        return False
    try:
        address = ipaddress.ip_address(value.split("%", 1)[0])
    except ValueError:
        return False
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        address = address.ipv4_mapped
    return address.is_loopback


def is_loopback_host(host: str | None) -> bool:
    """A Host header (with or without a port) that names this machine."""
    if not host:
        return False
    host = host.strip().lower()
    if host.startswith("["):  # [::1]:5000
        name = host[1 : host.find("]")] if "]" in host else ""
    else:
        name = host.rsplit(":", 1)[0] if host.count(":") == 1 else host
    name = name.rstrip(".")
    if name == "localhost" or name.endswith(".localhost"):
        return True
    return is_loopback_address(name)


def local_refusal(request: Request) -> str | None:
    """Why ``request`` may not use a development page, in one line, or ``None``."""
    if not is_loopback_address(request.remote_addr):
        return (
            f"this page answers only to a browser on this machine; the request came from "
            f"{request.remote_addr or 'an unknown address'}"
        )
    if not is_loopback_host(request.host):
        return f"this page answers only at a loopback address (localhost), not at {request.host!r}"
    origin = request.headers.get("Origin")
    if origin is not None and not _loopback_origin(origin):
        return f"the request was sent by another site ({origin})"
    return None


def _loopback_origin(origin: str) -> bool:
    if origin == "null":  # a sandboxed frame or a file: page: never ours
        return False
    parts = urlsplit(origin)
    return parts.scheme in ("http", "https") and is_loopback_host(parts.netloc)


class FormToken:
    """Issues and checks the token of the Apply form, under a secret of this process."""

    #: How long a page's token stays good: a page left open overnight asks to be reloaded.
    max_age = 3600

    def __init__(self) -> None:
        self._secret = secrets.token_bytes(32)

    def _mac(self, issued: str) -> str:
        return hmac.new(self._secret, f"apply|{issued}".encode(), hashlib.sha256).hexdigest()

    def issue(self) -> str:
        issued = str(int(time.time()))
        return f"{issued}.{self._mac(issued)}"

    def check(self, token: str | None) -> bool:
        issued, _, mac = (token or "").partition(".")
        if not issued.isdigit() or not hmac.compare_digest(mac, self._mac(issued)):
            return False
        return 0 <= time.time() - int(issued) <= self.max_age


def safe_next(value: str | None, root: str) -> str:
    """The page to return to after applying: a plain absolute path on this site (browsers read
    ``//evil.example`` and ``/\\evil.example`` as other hosts), else the app's root."""
    if (
        value
        and value.startswith("/")
        and not value.startswith(("//", "/\\"))
        and value.isprintable()
        and not urlsplit(value).netloc
    ):
        return value
    return f"{root}/"


@functools.cache
def environment() -> jinja2.Environment:
    return jinja2.Environment(
        loader=jinja2.PackageLoader("flask_versioning.web", "templates"),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )


def page(template: str, status: int = 200, **context: Any) -> Response:
    """Render one of our templates as an HTML response with the pages' security headers."""
    html = environment().get_template(template).render(**context)
    response = Response(html, status=status, mimetype="text/html")
    response.headers.update(HEADERS)
    return response
