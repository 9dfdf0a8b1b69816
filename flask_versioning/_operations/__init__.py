"""What each command does to one database, over Alembic's public entry points.

One module per kind of work: :mod:`.migrate` changes the database (upgrade, downgrade, stamp),
:mod:`.revisions` writes revision files, :mod:`.inspect` reads the history and the database.
Every function takes a :class:`~flask_versioning.Database` and returns data; nothing prints.
"""
