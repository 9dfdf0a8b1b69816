"""Runs Flask-Versioning's environment for a script directory whose own env.py is another
tool's (e.g. Flask-Migrate's): the revisions are read from that directory's versions/."""

from flask_versioning import run_migrations

run_migrations()
