"""The ``flask db`` group as a module-level object, for sphinx-click.

The package builds a fresh group per app (``cli.make_group()``) and never keeps a global one;
the documentation needs one object to read the real commands and options from.
"""

from __future__ import annotations

from flask_versioning.cli import make_group

db = make_group()
