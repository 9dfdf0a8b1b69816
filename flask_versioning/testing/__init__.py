"""A pytest plugin that gives every test a migrated database (``flask_versioning.testing``).

Registered as the ``pytest11`` entry point ``flask_versioning``: :mod:`.plugin` imports only
pytest until a test asks for ``versioning_db``; :mod:`.templates` makes the template databases
and the per-test ones. Shaped after pytest-django; see the "Testing" page of the documentation.
"""

from __future__ import annotations
