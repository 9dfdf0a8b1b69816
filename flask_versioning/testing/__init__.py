"""A pytest plugin that gives every test a migrated database (``flask_versioning.testing``).

Registered as the ``pytest11`` entry point ``flask_versioning``; :mod:`.plugin` imports nothing
but pytest until a test asks for ``versioning_db``, so test suites that do not use it pay
nothing. :mod:`.templates` holds the work: one template database per project and worker,
migrated once (from a baseline where there is one) and kept between sessions while the revision
files do not change, and the per-test databases made from it.

Shaped after pytest-django's database handling; see the "Testing" page of the documentation.
"""

from __future__ import annotations
