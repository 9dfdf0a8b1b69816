"""A linear history: the guard that keeps ``versions/HEADS`` true, and the rebase that restores it.

- :mod:`.guard`: ``versions/HEADS`` rewritten after every command that changes the heads,
  checked against the revision files, and guarding new revisions and every upgrade;
- :mod:`.rebase`: ``flask db rebase``, moving a revision onto the other head after a merge.

The file's format is :mod:`flask_versioning._alembic.heads_file`. Every function takes a
:class:`~flask_versioning.Database` and returns data; nothing prints.
"""
