"""CSV files that Excel in Colombia opens correctly on a double click, safely.

Choices: `;` as separator, because Colombian Excel uses `,` as the decimal mark and so expects
`;` between columns (a `,` file opens as one column); UTF-8 with a BOM, which is how Excel
recognises UTF-8 (without it, "Bogotá" shows as "BogotÃ¡"). Cells that a spreadsheet would run
as a formula are neutralised (OWASP "CSV injection").
"""

import csv
from collections.abc import Iterable, Iterator

DELIMITER = ";"
BOM = "\ufeff"
# Spreadsheets run a cell that starts with one of these as a formula (CSV injection); the
# import refuses such names and the exports neutralise them.
FORMULA_PREFIXES = ("=", "+", "-", "@", "\t", "\r")


def neutralise(value: object) -> str:
    """`=HYPERLINK(...)` → `'=HYPERLINK(...)`: shown as text, never evaluated."""
    text = "" if value is None else str(value)
    return "'" + text if text.startswith(FORMULA_PREFIXES) else text


class _Line:
    """A file-like object csv.writer writes one line to, so lines can be streamed."""

    def write(self, text: str) -> str:
        return text


def csv_lines(header: list[str], rows: Iterable[list], footer: list[str] = ()) -> Iterator[str]:
    """The CSV, line by line: the BOM and the header, each row neutralised, then `footer` (a
    last line, e.g. who exported the file and when)."""
    writer = csv.writer(_Line(), delimiter=DELIMITER, lineterminator="\r\n")
    yield BOM + writer.writerow(header)
    for row in rows:
        yield writer.writerow([neutralise(cell) for cell in row])
    if footer:
        yield writer.writerow([neutralise(cell) for cell in footer])
