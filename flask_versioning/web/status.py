"""The status page (``VERSIONING_STATUS_PAGE``): every database, its history and its seeds.

One section per database: where it stands and the heads, the revision graph drawn on the server
as inline SVG with this database marked on it, the seeds and whether they ran, and whether the
models match the database (``check``). Each part is asked of the API separately and a failure
becomes one line in its place, so a database that is down still leaves the rest of the page
readable. No script, no stylesheet or font from elsewhere: it works offline.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import TYPE_CHECKING, TypeVar

from flask import Response, abort, current_app, request
from markupsafe import Markup

from .._errors import mask_url, one_line, scrub
from .._operations.queries import check
from .._protection import environment_label
from .._review.drift import describe_diffs
from .._state import get_state
from .guard import local_refusal, page

if TYPE_CHECKING:
    from .._extension import Versioning
    from .._types import SeedStatus

T = TypeVar("T")


@dataclasses.dataclass
class Answer:
    """A value the API gave, or the one line it failed with."""

    value: object = None
    error: str | None = None


def _ask(question: Callable[[], T]) -> Answer:
    try:
        return Answer(question())
    except Exception as exc:
        return Answer(error=scrub(one_line(exc, 300)))


@dataclasses.dataclass
class Section:
    name: str
    url: str
    current: Answer
    heads: Answer
    graph: Answer
    seeds: Answer
    #: Why destructive commands are refused for it (protected, guessed or unknown), or ``None``.
    protection: Answer
    check: Answer


def status_page() -> Response:
    if not current_app.debug:
        abort(404)
    reason = local_refusal(request)
    if reason is not None:
        return page("refused.html", 403, reason=reason, next=None)
    state = get_state()
    extension = state.extension
    seeds = _ask(extension.seeds_status)
    environment = _ask(
        lambda: environment_label(extension.environment_name(), declared=bool(state.settings.env))
    )
    sections = [_section(extension, bind, seeds) for bind in extension.databases()]
    return page("status.html", sections=sections, environment=environment)


def _section(extension: Versioning, bind: str | None, seeds: Answer) -> Section:
    database = extension.database(bind)
    mine = seeds
    if seeds.error is None and isinstance(seeds.value, list):
        statuses: list[SeedStatus] = seeds.value
        mine = Answer([s for s in statuses if (s.bind or "default") == database.name])
    return Section(
        name=database.name,
        url=_ask(lambda: mask_url(database.url)).value or "",  # type: ignore[arg-type]
        current=_ask(lambda: extension.current(bind=bind)),
        heads=_ask(lambda: extension.heads(bind=bind)),
        graph=_ask(lambda: Markup(extension.graph(bind=bind, fmt="svg"))),
        seeds=mine,
        protection=_ask(lambda: extension.protection(bind=bind)),
        # Each difference between the models and the database, in ``flask db check``'s words.
        check=Answer(error="no models to compare: this database was given no metadata")
        if database.metadata is None
        else _ask(
            lambda: [
                d.description for d in describe_diffs(check(database), database.engine().dialect)
            ]
        ),
    )
