"""Configuration as docs/configuration.md describes it: defaults filled in, bad values refused.

A wrong value must stop the app when the extension is initialised, with one line naming the key,
rather than fail later inside a migration. Values that commonly arrive as text from environment
variables (``app.config.from_prefixed_env()`` parses JSON, so ``"false"`` becomes ``False``, but
plain ``os.environ`` reads give strings) are accepted where the text is unambiguous.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from flask import Flask

from flask_versioning import (
    ConfigurationError,
    MigrationFailed,
    MultipleHeadsError,
    Versioning,
)
from flask_versioning._errors import mask_url, scrub
from flask_versioning._settings import DEFAULTS


def _init(tmp_path: Path, **config: Any) -> Flask:
    app = Flask("configured", root_path=str(tmp_path))
    app.config["SQLALCHEMY_DATABASE_URI"] = f"sqlite:///{tmp_path / 'app.db'}"
    app.config.update(config)
    Versioning(app)
    return app


def test_every_default_is_filled_in_and_readable_from_app_config(tmp_path: Path) -> None:
    app = _init(tmp_path)
    for key, default in DEFAULTS.items():
        assert app.config[key] == default
    settings = app.extensions["versioning"].settings
    assert settings.directory == tmp_path / "migrations"
    assert settings.lock_timeout == 300.0 and settings.protected_envs == ("production",)


def test_values_set_before_init_win(tmp_path: Path) -> None:
    app = _init(
        tmp_path,
        VERSIONING_DIRECTORY=str(tmp_path / "elsewhere"),
        VERSIONING_LOCK_TIMEOUT="2.5",
        VERSIONING_PROTECTED_ENVS="production, staging",
        VERSIONING_AUTO_SEED="off",
        VERSIONING_BINDS="users",
        VERSIONING_DATABASE_URL=sa.make_url("sqlite:///x.db"),
    )
    settings = app.extensions["versioning"].settings
    assert settings.directory == tmp_path / "elsewhere"
    assert settings.lock_timeout == 2.5
    assert settings.protected_envs == ("production", "staging")
    assert settings.auto_seed is False
    assert settings.binds == ("users",)
    assert settings.database_url == "sqlite:///x.db"


@pytest.mark.parametrize("value", ["1", "yes", True, 1])
def test_auto_seed_accepts_true_spellings(tmp_path: Path, value: object) -> None:
    app = _init(tmp_path, VERSIONING_AUTO_SEED=value)
    assert app.extensions["versioning"].settings.auto_seed is True


@pytest.mark.parametrize(
    ("key", "value", "message"),
    [
        ("VERSIONING_AUTO_UPGRADE_ON_ERROR", "ignore", "must be 'raise' or 'log'"),
        ("VERSIONING_LOCK_TIMEOUT", "soon", "a number of seconds or None"),
        ("VERSIONING_LOCK_TIMEOUT", -1, "must not be negative"),
        ("VERSIONING_CONTEXT", ["compare_type"], "must be a dict, not list"),
        ("VERSIONING_POST_WRITE_HOOKS", "ruff", "must be a dict, not str"),
        ("VERSIONING_BINDS", [1, 2], "a list of bind names or None"),
        ("VERSIONING_PROTECTED_ENVS", None, "a list of environment names"),
        ("VERSIONING_PROTECTED_ENVS", [1], "a list of environment names"),
        ("VERSIONING_AUTO_SEED", "maybe", "must be True, False or None"),
        ("VERSIONING_DATABASE_URL", 42, "must be a database URL, not int"),
        ("VERSIONING_DATABASE_URL", {"users": ""}, "VERSIONING_DATABASE_URL['users']"),
        ("VERSIONING_DATABASE_URL", {1: "sqlite://"}, "keys must be database names"),
    ],
)
def test_bad_values_stop_the_app_with_the_key_named(
    tmp_path: Path, key: str, value: object, message: str
) -> None:
    with pytest.raises(ConfigurationError) as info:
        _init(tmp_path, **{key: value})
    text = str(info.value)
    assert key in text and message in text
    assert "\n" not in text


# -- messages: one line, no password ---------------------------------------------------------


def test_mask_url_hides_passwords_whatever_the_input() -> None:
    assert mask_url(None) == "<no database URL>"
    assert mask_url("postgresql://app:s3cret@db/app") == "postgresql://app:***@db/app"
    assert mask_url(sa.make_url("mysql+pymysql://root:pw@h/db")) == "mysql+pymysql://root:***@h/db"
    # Not parseable by SQLAlchemy (a bad port), still masked.
    assert mask_url("postgresql://app:s3cret@db:port/app") == "postgresql://app:***@db:port/app"
    assert mask_url("not a url") == "not a url"


def test_scrub_masks_urls_inside_free_text() -> None:
    text = 'could not connect to "postgresql://app:s3cret@db/app": timeout'
    assert scrub(text) == 'could not connect to "postgresql://app:***@db/app": timeout'


def test_multiple_heads_message_names_the_way_out() -> None:
    error = MultipleHeadsError(["aaa", "bbb"], "'upgrade head'")
    assert error.heads == ("aaa", "bbb")
    assert "(aaa, bbb)" in str(error) and "flask db merge heads" in str(error)


def test_migration_failed_says_where_the_database_stands() -> None:
    cause = RuntimeError("boom " * 100)
    rolled_back = MigrationFailed("bbb", ["aaa"], cause, transactional=True)
    assert str(rolled_back).startswith("revision bbb failed: RuntimeError: boom boom")
    assert str(rolled_back).endswith("... (its changes were rolled back; the database is at aaa)")
    assert len(str(rolled_back)) < 450

    partial = MigrationFailed(None, [], ValueError("x"), transactional=False)
    assert str(partial) == (
        "revision ? failed: ValueError: x (this database cannot roll back DDL, so part of it "
        "may be applied; the version table says base (no revision))"
    )
    unknown = MigrationFailed("bbb", None, ValueError("x"), transactional=True)
    assert "unknown (the version table could not be read back)" in str(unknown)
