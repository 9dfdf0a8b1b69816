"""Migrating a live database without an outage.

A DDL statement that waits for its lock queues every later query on the table behind it. The
modules here keep that wait short and retry instead of waiting long:

- :mod:`.policy`: the timeouts and retries of a run (``VERSIONING_DDL_*``), their schedule of
  growing lock timeouts and jittered sleeps, and the ``@timeouts`` decorator that changes them
  for one revision;
- :mod:`.session`: setting them on the migration connection, per dialect, and restoring the
  connection's own values afterwards; MariaDB's statement-level retries;
- :mod:`.blockers`: recognising a lock or statement timeout, and naming the session that held
  the lock;
- :mod:`.retry`: the attempts around a run, used by ``env.py`` on every path.
"""

from __future__ import annotations

from .policy import Policy, timeouts

__all__ = ["Policy", "timeouts"]
