"""What each command does to one :class:`~flask_versioning.Database`, over Alembic's public
entry points: :mod:`.migrate` changes it, :mod:`.revisions` writes revision files,
:mod:`.inspect` reads. Every function returns data; nothing prints."""
