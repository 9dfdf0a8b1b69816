"""Alembic environment for this app's migrations.

Flask-Versioning owns this file: it only hands over to the extension, which reads the database
and models from the app. Plain Alembic tools run it through ``Versioning.alembic_config()``.
"""

from flask_versioning import run_migrations

run_migrations()
