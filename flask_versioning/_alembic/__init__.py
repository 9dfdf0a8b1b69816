"""The glue between an app's databases and Alembic: the :class:`~.database.Database` object,
what ``env.py`` runs, the layout of a script directory, its heads (without importing revision
files) and the translation of Alembic's errors into ours."""
