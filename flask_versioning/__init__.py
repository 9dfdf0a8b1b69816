"""Database migrations that are part of the Flask app itself, built on Alembic."""

from __future__ import annotations

from .errors import VersioningError
from .extension import Versioning

__version__ = "0.1.0"
__all__ = ["Versioning", "VersioningError"]
