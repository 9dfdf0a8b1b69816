"""``flask db status`` and ``flask db validate``: where each database stands, as text or JSON.

Both are one call into the API (:meth:`~flask_versioning.Versioning.status`,
:meth:`~flask_versioning.Versioning.validate`) plus formatting; the JSON shape is documented
in ``docs/status.md`` and versioned (``"version": 1``) so that scripts can rely on it.
"""

from __future__ import annotations

import dataclasses
import datetime
import json
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import click

from .._linear.guard import heads_file_problem
from .._protection import GUESSED_PROTECTION, environment_label
from .._types import (
    DatabaseStatus,
    LedgerRecord,
    RevisionState,
    RevisionStatus,
    TenantResult,
)
from ._common import (
    CommandFailed,
    allow_protected_option,
    binds_option,
    command,
    duration,
    echo,
    format_option,
    on,
    plural,
    versioning,
)
from ._fleet import tenant_options

if TYPE_CHECKING:
    from .._tenant_commands import TenantCommands

#: Applied, unremarkable revisions shown by default, newest last; ``--all`` shows every one.
RECENT = 10
#: The version of the JSON document; bumped only when a key changes meaning or disappears.
JSON_VERSION = 1
#: The states counted on a database's ``revisions:`` line, in this order.
_STATES: tuple[RevisionState, ...] = ("applied", "changed", "missing", "pending")


@command("status", short_help="Show where each database stands, revision by revision.")
@binds_option
@click.option("--all", "show_all", is_flag=True, help="List every revision, not only the recent.")
@click.option(
    "--check",
    is_flag=True,
    help="Exit 1 when anything is pending, missing or changed, or versions/HEADS disagrees.",
)
@format_option(["text", "json"], "Output format; JSON has a stable, documented shape.")
@tenant_options(jobs=False)
def status_command(
    binds: tuple[str, ...],
    show_all: bool,
    check: bool,
    fmt: str,
    tenants: TenantCommands | None,
) -> None:
    """Show every revision of each database, oldest first: applied (when, how long, in which
    environment), pending, applied with its file missing, or applied with its file changed
    since. Also the current revision(s), the heads, the environment the database has recorded
    and whether it is protected.

    By default long histories show the problems, the pending revisions and the last 10
    applied ones, with a line counting the earlier ones; --all lists them all. With
    --all-tenants or --tenant, each chosen tenant instead, named after it.
    """
    extension = versioning()
    if tenants is not None:
        statuses = [_tenant_status(r) for r in tenants.status()]
    else:
        statuses = [
            s for bind in extension.select(binds) for s in extension.status(bind=bind or "default")
        ]
    if fmt == "json":
        click.echo(json.dumps(status_document(statuses), indent=2))
    else:
        for index, found in enumerate(s for s in statuses if s.error is None):
            if index:
                click.echo()
            _print_database(found, show_all)
    failures = [_failure(s, len(statuses) > 1) for s in statuses if s.error is not None]
    if check:
        failures += [_not_up_to_date(s) for s in statuses if s.error is None and not s.up_to_date]
        # versions/HEADS disagreeing with the files is a merge gone wrong: not up to date either.
        for bind in [None] if tenants is not None else extension.select(binds, histories=True):
            problem = heads_file_problem(extension.database(bind))
            if problem is not None:
                failures.append(problem)
    if failures:
        raise CommandFailed("; ".join(failures))


@command("validate", short_help="Check that applied revisions' files are unchanged.")
@click.option("--repair", is_flag=True, help="Record the files' current checksums, once reviewed.")
@binds_option
@allow_protected_option
def validate_command(repair: bool, binds: tuple[str, ...], allow_protected: bool) -> None:
    """Exit 1 naming each applied revision whose file changed or vanished since it was
    applied. After reviewing them, --repair records the files as they are now (refused for a
    protected database unless --allow-protected)."""
    extension = versioning()
    failed: list[str] = []
    for bind in extension.select(binds):
        with on(bind):
            for result in extension.validate(
                bind=bind or "default", repair=repair, allow_protected=allow_protected
            ):
                if result.error is not None:
                    failed.append(result.error)
                for sign in result.tampering:
                    click.secho(f"Warning: {sign}", fg="yellow", err=True)
                for revision in result.problems:
                    echo(f"{revision.revision}: {_state(revision)}")
                if result.repaired:
                    echo(
                        f"Recorded {len(result.problems)} revision(s) as reviewed: their "
                        "current files are what the database vouches for from now on."
                    )
                elif result.problems:
                    names = ", ".join(r.revision for r in result.problems)
                    failed.append(
                        f"applied revision(s) changed or missing: {names}; review them, then "
                        "run 'flask db validate --repair'"
                    )
                elif result.error is None:
                    echo("Every applied revision matches its file.")
    if failed:
        raise CommandFailed("; ".join(failed))


# -- text ---------------------------------------------------------------------------------------


def _when(moment: datetime.datetime) -> str:
    return moment.strftime("%Y-%m-%d %H:%M:%S UTC")


def _state(revision: RevisionStatus) -> str:
    """What one revision's line says after its id."""
    applied = revision.applied
    if revision.state == "pending":
        return "pending"
    if applied is None:
        how = "stamped" if revision.stamped else "not recorded in the history ledger"
    elif applied.direction == "before-history":
        how = "applied before the history ledger existed"
    else:
        how = f"applied {_when(applied.at)}, {duration(applied.duration_ms / 1000)}"
        how += f", {applied.environment}" if applied.environment else ""
    if revision.state == "missing":
        reviewed = revision.reviewed
        if reviewed is not None and reviewed.checksum is None:
            how += f"; reviewed {_when(reviewed.at)}"
        return f"applied, file missing ({how})"
    if revision.state == "changed":
        return f"applied, file changed since ({how})"
    return how if applied is not None else f"applied ({how})"


def _print_database(found: DatabaseStatus, show_all: bool) -> None:
    click.echo(f"{found.database}: {found.url}")
    heads = set(found.heads)
    current = ", ".join(f"{r}{' (head)' if r in heads else ''}" for r in found.current)
    click.echo(f"  current: {current or 'base (no revision applied)'}")
    click.echo(f"  heads: {', '.join(found.heads) or 'none (no revision files)'}")
    click.echo(f"  environment: {_environment(found)}")
    click.echo(f"  protected: {_protected(found)}")
    for problem in found.problems:
        click.secho(f"  {problem}", fg="yellow")
    counts = {state: len(found.with_state(state)) for state in _STATES}
    summary = ", ".join(f"{n} {state}" for state, n in counts.items() if n)
    click.echo(f"  revisions: {summary or 'none'}")
    shown, hidden = _select(found.revisions, show_all)
    width = max((len(r.revision) for r in shown), default=0)
    if hidden:
        click.echo(
            f"    ... {plural(hidden, 'earlier revision')} applied, files "
            "unchanged (--all lists them)"
        )
    for revision in shown:
        text = f"    {revision.revision:<{width}}  {_state(revision)}"
        if revision.message:
            text += f"  {revision.message}"
        colour = "red" if revision.problem else "yellow" if revision.state == "pending" else None
        click.secho(text, fg=colour)


def _environment(found: DatabaseStatus) -> str:
    if found.ledger == "missing":
        return "unknown (no history ledger)"
    if found.ledger == "damaged":
        return "unknown (the history ledger cannot be read)"
    record = found.environment
    if record is None:
        return "none recorded"
    label = environment_label(record.environment, declared=record.declared)
    return f"{label}, recorded {_when(record.at)} on {record.host or 'an unknown host'}"


def _protected(found: DatabaseStatus) -> str:
    if found.ledger == "damaged":
        return (
            "unknown (the history ledger cannot be read: destructive commands are refused "
            "until it can, or with --allow-protected)"
        )
    mark = found.protected_by
    if mark is None:
        return "no"
    what = f"{mark.direction} {mark.revision}" if mark.revision else mark.direction
    guessed = "" if mark.declared else f", guessed ({GUESSED_PROTECTION})"
    by = f"a {mark.environment or 'unknown'!r} app on {mark.host or 'an unknown host'}"
    return f"yes{guessed}, recorded by {by} at {_when(mark.at)} ({what})"


def _select(
    revisions: Sequence[RevisionStatus], show_all: bool
) -> tuple[list[RevisionStatus], int]:
    """Problems, pending and the last :data:`RECENT` plain applied ones, and how many are left."""
    if show_all:
        return list(revisions), 0
    plain = [i for i, r in enumerate(revisions) if r.state == "applied"]
    keep = set(plain[-RECENT:])
    shown = [r for i, r in enumerate(revisions) if r.state != "applied" or i in keep]
    return shown, len(revisions) - len(shown)


def _tenant_status(result: TenantResult[DatabaseStatus]) -> DatabaseStatus:
    """A tenant's status; one that could not even be looked at (its schema does not exist)
    is a status with the error, as an unreachable database is."""
    if result.value is not None:
        return result.value
    return DatabaseStatus(result.tenant, None, "", error=result.error or "not read")


def _failure(found: DatabaseStatus, several: bool) -> str:
    return f"[{found.database}] {found.error}" if several else str(found.error)


def _not_up_to_date(found: DatabaseStatus) -> str:
    groups = (
        ("pending", found.pending),
        ("changed", [r for r in found.troubles if r.state == "changed"]),
        ("missing", [r for r in found.troubles if r.state == "missing"]),
    )
    parts = [f"{len(group)} {label} ({_names(group)})" for label, group in groups if group]
    return f"the {found.database} database is not up to date: {'; '.join(parts)}"


def _names(revisions: Sequence[RevisionStatus], limit: int = 5) -> str:
    names = [r.revision for r in revisions[:limit]]
    return ", ".join(names) + (", ..." if len(revisions) > limit else "")


# -- JSON ---------------------------------------------------------------------------------------


def status_document(statuses: Sequence[DatabaseStatus]) -> dict[str, Any]:
    """The JSON document of ``status --format json`` (shape version :data:`JSON_VERSION`)."""
    return {
        "version": JSON_VERSION,
        "up_to_date": all(s.up_to_date for s in statuses),
        "databases": [_database_json(s) for s in statuses],
    }


def _record_json(record: LedgerRecord | None) -> dict[str, Any] | None:
    if record is None:
        return None
    return {
        **dataclasses.asdict(record),
        "at": record.at.strftime("%Y-%m-%dT%H:%M:%S.%fZ"),
        "duration_ms": round(record.duration_ms, 3),
    }


def _database_json(found: DatabaseStatus) -> dict[str, Any]:
    return {
        "name": found.database,
        "bind": found.bind,
        "url": found.url,
        "error": found.error,
        "up_to_date": found.up_to_date,
        "current": list(found.current),
        "heads": list(found.heads),
        "ledger": found.ledger,
        "problems": list(found.problems),
        "recorded": _record_json(found.environment),
        "protected_by": _record_json(found.protected_by),
        "revisions": [
            {
                "revision": r.revision,
                "state": r.state,
                "problem": r.problem,
                "message": r.message,
                "down_revisions": list(r.down_revisions),
                "path": None if r.path is None else str(r.path),
                "applied": _record_json(r.applied),
                "stamped": r.stamped,
                "checksum": r.checksum,
                "recorded_checksum": r.recorded_checksum,
                "reviewed": _record_json(r.reviewed),
            }
            for r in found.revisions
        ],
    }


COMMANDS = [status_command, validate_command]
