"""The ``VERSIONING_DDL_*`` settings and ``@timeouts``: bad values refused in one line."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from flask import Flask

from flask_versioning import ConfigurationError
from flask_versioning._settings import Settings
from flask_versioning.online import timeouts


def _settings(tmp_path: Path, **config: Any) -> Settings:
    app = Flask("settingsapp", root_path=str(tmp_path))
    app.config.update(config)
    return Settings.from_app(app)


def test_defaults_are_short_waits_with_retries(tmp_path: Path) -> None:
    s = _settings(tmp_path)
    assert (s.ddl_lock_timeout, s.ddl_lock_retries, s.ddl_retry_delay) == (0.4, 20, 2.0)
    assert s.ddl_statement_timeout == 60.0


def test_values_from_environment_variables_are_read(tmp_path: Path) -> None:
    s = _settings(
        tmp_path,
        VERSIONING_DDL_LOCK_TIMEOUT="1.5",
        VERSIONING_DDL_LOCK_RETRIES="3",
        VERSIONING_DDL_STATEMENT_TIMEOUT="none",
    )
    assert (s.ddl_lock_timeout, s.ddl_lock_retries, s.ddl_statement_timeout) == (1.5, 3, None)


@pytest.mark.parametrize(
    ("key", "value", "words"),
    [
        ("VERSIONING_DDL_LOCK_TIMEOUT", -1, "number of seconds (0 or more) or None"),
        ("VERSIONING_DDL_LOCK_TIMEOUT", "soon", "number of seconds"),
        ("VERSIONING_DDL_STATEMENT_TIMEOUT", True, "number of seconds"),
        ("VERSIONING_DDL_RETRY_DELAY", None, "must be a number of seconds, not None"),
        ("VERSIONING_DDL_LOCK_RETRIES", 2.5, "whole number of at least 0"),
        ("VERSIONING_DDL_LOCK_RETRIES", -1, "whole number of at least 0"),
    ],
)
def test_bad_values_are_refused_naming_the_key(
    tmp_path: Path, key: str, value: Any, words: str
) -> None:
    with pytest.raises(ConfigurationError) as caught:
        _settings(tmp_path, **{key: value})
    message = str(caught.value)
    assert message.startswith(key) and words in message and "\n" not in message


def test_the_decorator_refuses_a_bad_value_where_the_revision_is_loaded() -> None:
    with pytest.raises(ConfigurationError, match=r"@timeouts: lock_timeout must be a number"):
        timeouts(lock=-2)
    with pytest.raises(ConfigurationError, match=r"@timeouts: retries must be a whole number"):
        timeouts(retries=None)  # type: ignore[arg-type]


def test_the_decorator_keeps_the_function_and_runs_it_outside_a_migration() -> None:
    @timeouts(statement=None)
    def upgrade() -> str:
        """Doc."""
        return "ran"

    assert upgrade.__name__ == "upgrade" and upgrade.__doc__ == "Doc."
    assert upgrade() == "ran"
