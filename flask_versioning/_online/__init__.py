"""Migrating a live database without an outage: a DDL statement waiting for its lock queues
every later query on the table behind it, so the wait is kept short and retried instead.

:mod:`.policy` holds the timeouts, their schedule and the retries of a run, :mod:`.session`
sets them on the migration connection, :mod:`.blockers` names who held the lock;
:mod:`.safe` and :mod:`.backfill` are what revision files call.
"""
