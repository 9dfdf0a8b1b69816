"""What each command does to one :class:`~flask_versioning.Database`, over Alembic's public
entry points: :mod:`.executor` applies revisions to it, :mod:`.writer` writes revision files,
:mod:`.queries` answers the read-only commands and :mod:`.standing` says where it stands.
Every function returns data; nothing prints."""
