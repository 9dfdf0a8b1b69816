"""The tables a database keeps about itself: Alembic's version table (read here without
Alembic), and our own ledgers, created race-safely and hidden from autogenerate."""
