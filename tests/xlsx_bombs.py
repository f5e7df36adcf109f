"""Adversarial .xlsx files for the import's limits: small on disk, heavy once inflated."""

import io
import zipfile

OOXML = "http://schemas.openxmlformats.org"
PACKAGE_RELS = f"{OOXML}/package/2006/relationships"
DOC_RELS = f"{OOXML}/officeDocument/2006/relationships"
SHEET_CT = "application/vnd.openxmlformats-officedocument.spreadsheetml"
XML = '<?xml version="1.0" encoding="UTF-8"?>'
CONTENT_TYPES = (
    f'{XML}<Types xmlns="{OOXML}/package/2006/content-types">'
    '<Default Extension="rels" '
    'ContentType="application/vnd.openxmlformats-package.relationships+xml"/>'
    '<Default Extension="xml" ContentType="application/xml"/>'
    f'<Override PartName="/xl/workbook.xml" ContentType="{SHEET_CT}.sheet.main+xml"/>'
    '<Override PartName="/xl/worksheets/sheet1.xml" '
    f'ContentType="{SHEET_CT}.worksheet+xml"/>'
    '<Override PartName="/xl/sharedStrings.xml" '
    f'ContentType="{SHEET_CT}.sharedStrings+xml"/>'
    "</Types>"
)
ROOT_RELS = (
    f'{XML}<Relationships xmlns="{PACKAGE_RELS}">'
    f'<Relationship Id="rId1" Type="{DOC_RELS}/officeDocument" Target="xl/workbook.xml"/>'
    "</Relationships>"
)
WORKBOOK = (
    f'{XML}<workbook xmlns="{OOXML}/spreadsheetml/2006/main" xmlns:r="{DOC_RELS}">'
    '<sheets><sheet name="Hoja1" sheetId="1" r:id="rId1"/></sheets></workbook>'
)
WORKBOOK_RELS = (
    f'{XML}<Relationships xmlns="{PACKAGE_RELS}">'
    f'<Relationship Id="rId1" Type="{DOC_RELS}/worksheet" Target="worksheets/sheet1.xml"/>'
    f'<Relationship Id="rId2" Type="{DOC_RELS}/sharedStrings" Target="sharedStrings.xml"/>'
    "</Relationships>"
)
NS = 'xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main"'


def shared_strings_bomb(inflated_mb: float = 45) -> bytes:
    """A valid workbook whose shared-strings table inflates to `inflated_mb` MB of tiny
    strings (openpyxl keeps every one of them in memory) while the file stays far under 2 MB."""
    item = "<si><t>a</t></si>"
    count = int(inflated_mb * 1024 * 1024) // len(item)
    strings = f'<?xml version="1.0" encoding="UTF-8"?><sst {NS} count="{count}">'
    strings += item * count + "</sst>"
    sheet = (
        f'<?xml version="1.0" encoding="UTF-8"?><worksheet {NS}><sheetData>'
        '<row r="1"><c r="A1" t="s"><v>0</v></c></row></sheetData></worksheet>'
    )
    return _package(sheet, strings)


def sheet_bomb(inflated_mb: float = 45) -> bytes:
    """A workbook with one row of empty cells that inflates to `inflated_mb` MB of XML."""
    cell = '<c t="n"><v>1</v></c>'
    count = int(inflated_mb * 1024 * 1024) // len(cell)
    sheet = (
        f'<?xml version="1.0" encoding="UTF-8"?><worksheet {NS}><sheetData><row r="1">'
        + cell * count
        + "</row></sheetData></worksheet>"
    )
    strings = f'<?xml version="1.0" encoding="UTF-8"?><sst {NS} count="0"></sst>'
    return _package(sheet, strings)


def _package(sheet: str, strings: str) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED, compresslevel=9) as archive:
        archive.writestr("[Content_Types].xml", CONTENT_TYPES)
        archive.writestr("_rels/.rels", ROOT_RELS)
        archive.writestr("xl/workbook.xml", WORKBOOK)
        archive.writestr("xl/_rels/workbook.xml.rels", WORKBOOK_RELS)
        archive.writestr("xl/worksheets/sheet1.xml", sheet)
        archive.writestr("xl/sharedStrings.xml", strings)
    return buffer.getvalue()


def legit_sheet(rows: float = 5000, columns: float = 20) -> bytes:
    """A real workbook (openpyxl-written) of `rows` referrals × `columns` text columns."""
    import openpyxl

    workbook = openpyxl.Workbook()
    sheet = workbook.active
    sheet.append(["cedula", "nombre", *[f"col{i}" for i in range(int(columns) - 2)]])
    for i in range(int(rows)):
        sheet.append(
            [
                str(1000000000 + i),
                f"Persona {i}",
                *[f"dato {i}-{j}" for j in range(int(columns) - 2)],
            ]
        )
    buffer = io.BytesIO()
    workbook.save(buffer)
    return buffer.getvalue()


def measure(argv: list[str]) -> None:
    """`python -m tests.xlsx_bombs sheet_bomb 45`: read one file through the import as the web
    process does; print outcome, file bytes, seconds, this process's RSS growth and the reader
    child's peak RSS (MiB)."""
    import os
    import resource
    import time

    import django

    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "project.settings")
    django.setup()
    from referrals import imports

    data = globals()[argv[0]](*map(float, argv[1:]))
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    start = time.perf_counter()
    try:
        imports.read_table(data, "bomba.xlsx")
        outcome = "parsed"
    except imports.ImportFileError:
        outcome = "refused"
    elapsed = time.perf_counter() - start
    grown = (resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before) / 1024
    child = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
    print(outcome, len(data), f"{elapsed:.3f}s", f"+{grown:.1f}MiB", f"child {child:.1f}MiB")


if __name__ == "__main__":
    import sys

    measure(sys.argv[1:])
