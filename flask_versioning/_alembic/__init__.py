"""The glue between an app's databases and Alembic: the :class:`~.database.Database` object,
what ``env.py`` runs, the layout of a script directory, its revision files read as text
(:mod:`.revision_files`, the one reader), its heads (without importing them) and the
translation of Alembic's errors into ours."""
