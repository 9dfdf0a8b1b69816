"""What a reviewer reads before an upgrade runs, about revision files and models.

- :mod:`.lint`: which revision files ``flask db lint`` checks, for which database (the linter
  itself is :mod:`flask_versioning._lint`);
- :mod:`.plan`: ``flask db plan``, what an upgrade would run, without running it;
- :mod:`.drift`: ``flask db check``'s differences, described for a reviewer.

Every function takes a :class:`~flask_versioning.Database` (or the app's state) and returns
data; nothing prints.
"""
