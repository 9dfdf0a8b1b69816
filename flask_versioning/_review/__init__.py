"""What a reviewer reads before an upgrade runs: :mod:`.lint` (which files ``flask db lint``
checks), :mod:`.plan` (``flask db plan``) and :mod:`.drift` (``flask db check``'s differences).
Every function takes a :class:`~flask_versioning.Database` and returns data; nothing prints.
"""
