"""A notes app with one SQLite database per customer, listed in the app's own database.

flask --app app db upgrade                 # the app's database, with its tenants table
flask --app app add-tenant acme            # register customers
flask --app app add-tenant globex
flask --app app db upgrade --all-tenants   # every customer's database
"""

from __future__ import annotations

import os

import click
import sqlalchemy as sa
from flask import Flask
from flask_sqlalchemy import SQLAlchemy
from sqlalchemy.orm import Mapped, mapped_column

from flask_versioning import Versioning

db = SQLAlchemy()
versioning = Versioning()


class Customer(db.Model):  # type: ignore[name-defined,misc]
    """The tenants table: kept in the app's own database."""

    __tablename__ = "tenants"
    name: Mapped[str] = mapped_column(sa.String(63), primary_key=True)
    database_url: Mapped[str] = mapped_column(sa.String(500))


class Note(db.Model):  # type: ignore[name-defined,misc]
    """What each customer's database holds."""

    __tablename__ = "notes"
    id: Mapped[int] = mapped_column(primary_key=True)
    text: Mapped[str] = mapped_column(sa.Text)


@versioning.tenants
def tenants() -> dict[str, str]:
    """Read from the app's database each time a command runs: no list to keep in sync."""
    rows = db.session.execute(sa.select(Customer.name, Customer.database_url))
    return {name: url for name, url in rows}


@click.command("add-tenant")
@click.argument("name")
def add_tenant(name: str) -> None:
    """Register a customer, with a database file of its own."""
    from flask import current_app

    folder = os.path.join(current_app.instance_path, "tenants")
    os.makedirs(folder, exist_ok=True)
    url = f"sqlite:///{os.path.join(folder, name + '.db')}"
    db.session.add(Customer(name=name, database_url=url))
    db.session.commit()
    click.echo(f"Added {name}: run 'flask db upgrade --tenant {name}' to create its tables.")


def create_app() -> Flask:
    app = Flask(__name__)
    os.makedirs(app.instance_path, exist_ok=True)
    app.config["SQLALCHEMY_DATABASE_URI"] = os.environ.get(
        "DATABASE_URL", f"sqlite:///{os.path.join(app.instance_path, 'app.db')}"
    )
    db.init_app(app)
    versioning.init_app(app, db)
    app.cli.add_command(add_tenant)
    return app
