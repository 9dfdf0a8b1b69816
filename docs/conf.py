"""Sphinx configuration for the Flask-Versioning documentation.

The build must pass offline with warnings as errors (``make docs``), so intersphinx links to
Python, Flask, SQLAlchemy and Alembic are only resolved when ``DOCS_INTERSPHINX=1`` is set (or on
Read the Docs): without network access their inventories cannot be fetched, and Sphinx reports
that as a warning that no ``suppress_warnings`` entry can silence.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))  # _cli.py (sphinx-click), _layers.py (the picture), _rules.py

import flask_versioning  # noqa: E402

project = "Flask-Versioning"
author = "Flask-Versioning developers"
copyright = "the Flask-Versioning developers"
release = flask_versioning.__version__
version = ".".join(release.split(".")[:2])

extensions = [
    "sphinx.ext.autodoc",
    "sphinx.ext.intersphinx",
    "sphinx.ext.viewcode",
    "sphinx_click",
    "myst_parser",
    "_layers",
    "_rules",
]

source_suffix = {".md": "markdown", ".rst": "restructuredtext"}
root_doc = "index"
exclude_patterns = ["_build", "Thumbs.db", ".DS_Store"]
myst_enable_extensions = ["colon_fence", "deflist"]
myst_heading_anchors = 3

# -- autodoc: the code's docstrings use reST field lists (``:param x:``) -------------------
autodoc_member_order = "bysource"
autodoc_typehints = "description"
autodoc_typehints_format = "short"
autodoc_preserve_defaults = True
autodoc_default_options = {"members": True, "show-inheritance": False}

# -- intersphinx: opt-in, see the module docstring -----------------------------------------
intersphinx_mapping = {
    "python": ("https://docs.python.org/3/", None),
    "flask": ("https://flask.palletsprojects.com/en/stable/", None),
    "sqlalchemy": ("https://docs.sqlalchemy.org/en/20/", None),
    "alembic": ("https://alembic.sqlalchemy.org/en/latest/", None),
    "click": ("https://click.palletsprojects.com/en/stable/", None),
}
intersphinx_timeout = 10
if not (os.environ.get("DOCS_INTERSPHINX") == "1" or os.environ.get("READTHEDOCS")):
    extensions.remove("sphinx.ext.intersphinx")
    del intersphinx_mapping

# -- HTML ------------------------------------------------------------------------------------
html_theme = "furo"
html_title = f"Flask-Versioning {release}"
html_static_path: list[str] = []
html_show_sourcelink = False
