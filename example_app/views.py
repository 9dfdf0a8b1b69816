"""Two pages: the catalogue and one book with its reviews."""

from __future__ import annotations

from flask import Blueprint, render_template

from .models import Author, Book, db

bp = Blueprint("catalogue", __name__)


@bp.get("/")
def index() -> str:
    authors = db.session.scalars(db.select(Author).order_by(Author.name)).all()
    return render_template("index.html", authors=authors)


@bp.get("/books/<int:book_id>")
def book(book_id: int) -> str:
    return render_template("book.html", book=db.get_or_404(Book, book_id))
