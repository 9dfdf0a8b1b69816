"""A linear history: :mod:`.guard` keeps ``versions/HEADS`` true and guards new revisions and
upgrades; :mod:`.rebase` (``flask db rebase``) restores a straight line after a merge. The
file's format is :mod:`flask_versioning._alembic.heads_file`.
"""
