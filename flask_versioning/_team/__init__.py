"""Working in a team: the reviews and guards around revision files.

- :mod:`.linear`: the linear-history guard, ``versions/HEADS`` checked against the revisions;
- :mod:`.rebase`: ``flask db rebase``, moving a revision onto the other head after a merge;
- :mod:`.lint`: which revision files ``flask db lint`` checks, for which database;
- :mod:`.drift`: ``flask db check``'s differences, described for a reviewer;
- :mod:`.plan`: ``flask db plan``, what an upgrade would run, without running it;
- :mod:`.paths`: file names as a person at a terminal wants to read them.

Every function takes a :class:`~flask_versioning.Database` (or the app's state) and returns
data; nothing prints.
"""
