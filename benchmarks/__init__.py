"""Benchmarks that compare Flask-Versioning with Flask-Migrate and Flask-Alembic.

Run them with ``python -m benchmarks`` (or ``--smoke`` for the quick check CI runs); see
``benchmarks/README.md`` for what each scenario measures and why it is built the way it is.
"""
