"""Searching names as people type them: "munoz" finds "Muñoz", "JOSE" finds "José".

`fold` is the Python side (the search box's text); `Folded` the database side (a stored name),
the same mapping on SQLite (a function registered on each connection) and on PostgreSQL
(TRANSLATE + LOWER: no extension needed, unlike `unaccent`).
"""

import unicodedata

from django.db.models import Func, TextField

# Every accented letter a Colombian name carries, upper and lower case, and its plain letter.
ACCENTED = "áàäâãéèëêíìïîóòöôõúùüûñçÁÀÄÂÃÉÈËÊÍÌÏÎÓÒÖÔÕÚÙÜÛÑÇ"
PLAIN = "aaaaaeeeeiiiiooooouuuuncaaaaaeeeeiiiiooooouuuunc"
SQLITE_FUNCTION = "cv_fold"


def fold(text: str) -> str:
    """Lower case, accents dropped."""
    decomposed = unicodedata.normalize("NFKD", text or "")
    return "".join(c for c in decomposed if not unicodedata.combining(c)).lower()


class Folded(Func):
    output_field = TextField()

    def as_sqlite(self, compiler, connection, **extra):
        return self.as_sql(compiler, connection, function=SQLITE_FUNCTION, **extra)

    def as_postgresql(self, compiler, connection, **extra):
        template = f"TRANSLATE(LOWER(%(expressions)s), '{ACCENTED}', '{PLAIN}')"
        return self.as_sql(compiler, connection, template=template, **extra)


def register_sqlite_function(sender, connection, **kwargs) -> None:
    """connection_created receiver: give each SQLite connection the folding function."""
    if connection.vendor == "sqlite":
        connection.connection.create_function(SQLITE_FUNCTION, 1, fold, deterministic=True)
