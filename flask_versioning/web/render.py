"""The pages' own Jinja environment, and the response every page goes out as.

Not the app's environment: the pending page answers *instead of* the app while its database is
behind, so the app's context processors (which may query the very tables that are missing),
its template overrides and its globals must not run. Autoescaping is on for every template.
"""

from __future__ import annotations

import functools
from typing import Any

import jinja2
from flask import Response

from .guard import HEADERS

__all__ = ["page"]


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
