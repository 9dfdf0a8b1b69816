"""Development data, so that the first ``make demo`` shows a catalogue that looks lived in."""

from __future__ import annotations

import itertools

import sqlalchemy as sa
from sqlalchemy.orm import Session

from flask_versioning import Versioning

from .models import Author, Book, Review

CATALOGUE = {
    ("Ursula K. Le Guin", 1929): [
        ("A Wizard of Earthsea", 1968),
        ("The Left Hand of Darkness", 1969),
        ("The Dispossessed", 1974),
    ],
    ("Terry Pratchett", 1948): [
        ("The Colour of Magic", 1983),
        ("Small Gods", 1992),
        ("Night Watch", 2002),
    ],
    ("Octavia E. Butler", 1947): [("Kindred", 1979), ("Parable of the Sower", 1993)],
    ("Italo Calvino", 1923): [
        ("Invisible Cities", 1972),
        ("If on a Winter's Night a Traveler", 1979),
    ],
    ("Toni Morrison", 1931): [("Song of Solomon", 1977), ("Beloved", 1987)],
    ("Kazuo Ishiguro", 1954): [("The Remains of the Day", 1989), ("Never Let Me Go", 2005)],
}

OPINIONS = [
    (5, "Read it in one sitting, then started again from the first page."),
    (4, "Slow to start, but the last third is extraordinary."),
    (5, "The book I give to friends who say they don't read this kind of thing."),
    (3, "Beautifully written; I wanted more from the ending."),
    (4, "Better on a second reading, when you know where it is going."),
]


def register(versioning: Versioning) -> None:
    """Declare the demo's seeds on ``versioning`` (before ``init_app``, so a start sees them)."""

    @versioning.seed("development", "testing")
    def catalogue(session: Session) -> None:
        """Authors and their books, through the ORM: a few dozen rows with relationships."""
        for (name, born), books in CATALOGUE.items():
            author = Author(name=name, born=born)
            author.books = [Book(title=title, year=year) for title, year in books]
            session.add(author)

    @versioning.seed("development", order=1)
    def reviews(session: Session) -> int:
        """Two to four reviews per book, with bulk_insert: the pattern for large data sets."""
        book_ids = session.scalars(sa.select(Book.id).order_by(Book.id)).all()
        opinions = itertools.cycle(OPINIONS)
        rows = [
            {"book_id": book_id, "stars": stars, "text": text}
            for book_id in book_ids
            for stars, text in itertools.islice(opinions, 2 + book_id % 3)
        ]
        return versioning.bulk_insert(Review, rows)
