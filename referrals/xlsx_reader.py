"""Reads the first sheet of an .xlsx into rows of text, in a child process with limits.

openpyxl is a full XML parser of a format that inflates ~1,000 times (a 100 KB upload can hold
45 MB of shared strings or a row of two million cells): the import runs it here, in a fresh
interpreter with an address-space and a CPU-time limit, so a hostile workbook costs that
child, never the web worker. The parent (`referrals.imports`) has already refused archives
whose parts are too big, and kills this process past its wall-clock timeout.

Run as `python -I xlsx_reader.py MAX_ROWS MAX_COLUMNS MEMORY_MB CPU_SECONDS` with the file on
stdin; prints the rows as JSON; exit status 2 when the file is not a workbook it can read,
anything else non-zero when a limit stopped it. Imports nothing of the project: -I keeps it
in the standard library and site-packages.
"""

import io
import json
import resource
import sys

UNREADABLE = 2


def cell_text(value) -> str:
    if value is None:
        return ""
    # Excel stores typed numbers as floats: 1020304050.0 must read as 1020304050.
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def read_rows(data: bytes, max_rows: int, max_columns: int) -> list[list[str]]:
    import openpyxl

    workbook = openpyxl.load_workbook(io.BytesIO(data), read_only=True, data_only=True)
    try:
        rows = []
        for values in workbook.worksheets[0].iter_rows(max_col=max_columns, values_only=True):
            rows.append([cell_text(v) for v in values])
            if len(rows) >= max_rows:
                break
        return rows
    finally:
        workbook.close()


def main(argv: list[str]) -> int:
    max_rows, max_columns, memory_mb, cpu_seconds = (int(arg) for arg in argv)
    memory = memory_mb * 1024 * 1024
    resource.setrlimit(resource.RLIMIT_AS, (memory, memory))
    resource.setrlimit(resource.RLIMIT_CPU, (cpu_seconds, cpu_seconds))
    data = sys.stdin.buffer.read()
    try:
        rows = read_rows(data, max_rows, max_columns)
    except MemoryError:
        raise
    except Exception:  # zipfile, XML and openpyxl errors: all mean "not a workbook we can read"
        return UNREADABLE
    json.dump(rows, sys.stdout)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
