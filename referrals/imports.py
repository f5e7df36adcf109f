"""Bulk import of referrals from a CSV or Excel file, in two steps.

1. `prepare_import` reads the file, checks every row and stores the report in an ImportBatch
   (state `review`). Nothing is created: the user reads the report first.
2. `confirm_import` creates the accepted rows in one transaction and publishes one verification
   per referral after it commits. Duplicates are checked again then: someone may have
   registered one of the cédulas in between.

A file that cannot be read at all raises ImportFileError with a message for the user; a bad
row never fails the file, it is reported with its reason.
"""

import csv
import io
import json
import logging
import re
import subprocess
import sys
import unicodedata
import zipfile
from dataclasses import dataclass
from pathlib import Path

from django.db import transaction
from django.db.models import Count, Q
from django.utils import timezone
from django.utils.translation import gettext, gettext_noop

from privacy import audit
from project.spreadsheet import FORMULA_PREFIXES
from scraping.cedula import strip_separators

from . import quotas, selectors, services, xlsx_reader
from .cedula import InvalidCedula, clean_cedula
from .models import ConsentMethod, ImportBatch, Referral, Status

logger = logging.getLogger(__name__)

MAX_FILE_BYTES = 2 * 1024 * 1024
MAX_ROWS = 5000
MAX_NAME_CHARS = 200
# An .xlsx is a zip of XML parts: refuse one whose parts would inflate past these (a "zip
# bomb") before anything parses it. A real sheet of 5,000 rows × 20 columns is ~3.5 MB of XML,
# its shared strings less; openpyxl keeps the whole shared-strings table in memory.
MAX_XLSX_PART_BYTES = 8 * 1024 * 1024
MAX_XLSX_UNCOMPRESSED_BYTES = 16 * 1024 * 1024
# What is left is parsed in a child process (xlsx_reader.py) within these limits.
XLSX_READER = Path(__file__).with_name("xlsx_reader.py")
XLSX_READER_MEMORY_MB = 512
XLSX_READER_CPU_SECONDS = 15
XLSX_READER_TIMEOUT_SECONDS = 20
# Only the first columns matter (cédula, name); this bounds work on very wide sheets.
MAX_COLUMNS = 20
# How far down a header row is looked for (below a title such as "Lista de referidos").
HEADER_SEARCH_ROWS = 5
# Share of control characters above which a "CSV" is taken for a binary file.
MAX_CONTROL_CHAR_SHARE = 0.01

CEDULA_HEADERS = {
    "cedula",
    "cedulas",
    "documento",
    "nuip",
    "numero de cedula",
    "numero de documento",
    "no documento",
    "no de documento",
    "cedula de ciudadania",
    "cc",
}
NAME_HEADERS = {"nombre", "nombres", "nombre completo", "nombres y apellidos", "name", "full name"}
# An optional column saying whether each person authorized the handling of their data; when a
# file has one, a row without a yes there is not registered.
AUTHORIZATION_HEADERS = {
    "autorizacion",
    "autoriza",
    "autorizo",
    "acepta",
    "consentimiento",
    "habeas data",
    "authorization",
    "consent",
}
YES = {"si", "s", "x", "yes", "y", "1", "true", "verdadero", "acepta", "autoriza"}


class Outcome:
    """What happens to a row on confirm. Plain strings: they are stored in the batch's JSON."""

    ACCEPTED = "accepted"
    DUPLICATE_IN_FILE = "duplicate_in_file"
    ALREADY_REGISTERED = "already_registered"  # in the program, and the uploader may see it
    NOT_REGISTRABLE = "not_registrable"  # in the program, not the uploader's to see: neutral
    INVALID = "invalid"

    ALL = (ACCEPTED, DUPLICATE_IN_FILE, ALREADY_REGISTERED, NOT_REGISTRABLE, INVALID)


# Spanish msgids stored with each row and translated when the report is shown.
REASON_DUPLICATE_IN_FILE = gettext_noop("Repetida en el archivo (fila %(first)d).")
REASON_ALREADY_REGISTERED = gettext_noop("Ya está registrada en el programa.")
REASON_TAKEN_MEANWHILE = gettext_noop(
    "Alguien la registró mientras revisabas el archivo: ya está en el programa."
)
# The services' neutral answer (the same words as the form's and the API's).
REASON_NOT_REGISTRABLE = gettext_noop(
    "No es posible registrar esta cédula. Dejamos constancia de la solicitud para que el "
    "equipo de la campaña la revise."
)
REASON_NOT_AUTHORIZED = gettext_noop(
    "La columna de autorización no dice «sí»: sin la autorización de la persona no se registra."
)
REASON_ERASED = gettext_noop("Datos borrados a pedido del titular o por el plazo de retención.")
REASON_FORMULA_NAME = gettext_noop(
    "El nombre empieza por «%(char)s», como una fórmula de hoja de cálculo. "
    "Corrígelo en el archivo y vuelve a subirlo."
)


class ImportFileError(ValueError):
    """The file as a whole cannot be imported; the message is for the user (translated)."""


@dataclass(frozen=True)
class ConfirmResult:
    created: int
    taken_meanwhile: int


# --- reading the file ----------------------------------------------------------------------


def read_table(data: bytes, filename: str) -> list[list[str]]:
    """The file's cells as text, row by row (an .xlsx or a CSV, whatever its extension says
    when the content says otherwise)."""
    if len(data) > MAX_FILE_BYTES:
        raise ImportFileError(file_too_big_message())
    if not data.strip():
        raise ImportFileError(gettext("El archivo está vacío."))
    unsupported = _unsupported_kind(filename)
    if unsupported:
        raise ImportFileError(
            gettext(
                "No se pueden importar archivos %(kind)s. Guárdalo como «CSV UTF-8» o «Libro de "
                "Excel (.xlsx)» y vuelve a subirlo."
            )
            % {"kind": unsupported}
        )
    if data.startswith(b"PK\x03\x04"):
        return _read_xlsx(data)
    if filename.lower().endswith((".xlsx", ".xlsm")):
        raise ImportFileError(gettext("El archivo no es un Excel válido (.xlsx)."))
    return _read_csv(_decode(data))


# Formats people pick by habit that the import cannot read, named so the message says which.
UNSUPPORTED_FORMATS = {
    ".xls": "Excel 97-2003 (.xls)",
    ".ods": "OpenDocument (.ods)",
    ".numbers": "Numbers (.numbers)",
    ".pdf": "PDF (.pdf)",
    ".doc": "Word (.doc)",
    ".docx": "Word (.docx)",
}


def _unsupported_kind(filename: str) -> str:
    name = filename.lower()
    return next((kind for ext, kind in UNSUPPORTED_FORMATS.items() if name.endswith(ext)), "")


def file_too_big_message() -> str:
    return gettext("El archivo pesa más de 2 MB. Divídelo en archivos más pequeños.")


def _decode(data: bytes) -> str:
    """UTF-8 (with or without Excel's BOM), UTF-16 with BOM, else Windows-1252/Latin-1: what
    Excel and LibreOffice write in Colombia. Binary content is refused, not guessed at."""
    if data.startswith((b"\xff\xfe", b"\xfe\xff")):
        try:
            text = data.decode("utf-16")
        except UnicodeDecodeError:
            raise ImportFileError(_not_text_message()) from None
    else:
        try:
            text = data.decode("utf-8-sig")
        except UnicodeDecodeError:
            # cp1252 is Latin-1 plus curly quotes etc. in 0x80-0x9F; it has five undefined
            # bytes, for which Latin-1 still decodes something (to be judged below).
            try:
                text = data.decode("cp1252")
            except UnicodeDecodeError:
                text = data.decode("latin-1")
    controls = sum(1 for ch in text if ch < " " and ch not in "\t\r\n")
    if controls > max(1, len(text) * MAX_CONTROL_CHAR_SHARE):
        raise ImportFileError(_not_text_message())
    return text


def _not_text_message() -> str:
    return gettext(
        "No pudimos leer el archivo: no parece un CSV de texto ni un Excel (.xlsx). "
        "Guárdalo desde Excel como «CSV UTF-8» o «Libro de Excel» y vuelve a subirlo."
    )


def detect_delimiter(text: str) -> str:
    """`;` (what Excel writes in Colombia, where `,` is the decimal mark), `,` or tab: the one
    that splits a header naming the cédula column (in the first HEADER_SEARCH_ROWS lines, as
    `_find_header_row` looks for it), else the one that appears most in the first lines: a name
    like "Ana; hija" must not outvote the header's separator."""
    sample = text[:8192].splitlines()[:20]
    for line in sample[:HEADER_SEARCH_ROWS]:
        for sep in (";", ",", "\t"):
            cells = line.split(sep)
            if len(cells) > 1 and any(header_key(cell) in CEDULA_HEADERS for cell in cells):
                return sep
    counts = {sep: sum(line.count(sep) for line in sample) for sep in (";", ",", "\t")}
    best = max(counts, key=counts.get)
    return best if counts[best] else ","


def _read_csv(text: str) -> list[list[str]]:
    text = text.replace("\x00", "")
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=detect_delimiter(text))
    rows = []
    try:
        for row in reader:
            rows.append(row[:MAX_COLUMNS])
            if len(rows) > MAX_ROWS + 1:  # header + MAX_ROWS: enough to know it is too long
                break
    except csv.Error:
        raise ImportFileError(
            gettext("El archivo CSV está mal formado (revisa las comillas y los separadores).")
        ) from None
    return rows


def _read_xlsx(data: bytes) -> list[list[str]]:
    """The first sheet's rows: the archive's parts are measured first (their sizes as the zip
    declares them, which zipfile enforces while inflating), then openpyxl reads it in a child
    process with memory and time limits (referrals/xlsx_reader.py)."""
    bad = ImportFileError(gettext("No pudimos leer el archivo de Excel (.xlsx)."))
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as archive:
            parts = archive.infolist()
    except Exception:  # not a zip, or a broken one
        raise bad from None
    if any(part.file_size > MAX_XLSX_PART_BYTES for part in parts) or (
        sum(part.file_size for part in parts) > MAX_XLSX_UNCOMPRESSED_BYTES
    ):
        raise ImportFileError(too_heavy_message())
    limits = (MAX_ROWS + 2, MAX_COLUMNS, XLSX_READER_MEMORY_MB, XLSX_READER_CPU_SECONDS)
    try:
        child = subprocess.run(  # noqa: S603 (our own script, no shell, fixed arguments)
            [sys.executable, "-I", str(XLSX_READER), *(str(limit) for limit in limits)],
            input=data,
            capture_output=True,
            timeout=XLSX_READER_TIMEOUT_SECONDS,
            check=False,
        )
    except subprocess.TimeoutExpired:
        raise ImportFileError(too_heavy_message()) from None
    if child.returncode == xlsx_reader.UNREADABLE:
        raise bad
    if child.returncode != 0:
        logger.warning(
            "xlsx reader stopped by its limits (exit %s): %s",
            child.returncode,
            child.stderr[-300:].decode("utf-8", "replace"),
        )
        raise ImportFileError(too_heavy_message())
    return json.loads(child.stdout)


def too_heavy_message() -> str:
    return gettext(
        "El archivo de Excel es demasiado pesado por dentro para leerlo. Guárdalo como "
        "«CSV UTF-8» o divídelo en archivos más pequeños."
    )


# --- understanding the rows ----------------------------------------------------------------


def header_key(text: str) -> str:
    """`Cédula `, `CEDULA`, `No. Documento` → `cedula`, `no documento`."""
    text = unicodedata.normalize("NFKD", text)
    text = "".join(ch for ch in text if not unicodedata.combining(ch)).lower()
    text = re.sub(r"[^a-z0-9]+", " ", text)
    return text.strip()


def locate_columns(first_row: list[str]) -> tuple[int, int | None, bool]:
    """(cédula column, name column or None, whether the first row is a header)."""
    keys = [header_key(cell) for cell in first_row]
    cedula_col = next((i for i, k in enumerate(keys) if k in CEDULA_HEADERS), None)
    if cedula_col is not None:
        name_col = next((i for i, k in enumerate(keys) if k in NAME_HEADERS), None)
        return cedula_col, name_col, True
    # No header: fine when the first column holds a number (1020304050, 1.020.304.050).
    first = strip_separators(first_row[0]) if first_row else ""
    if first.isascii() and first.isdigit():
        return 0, (1 if len(first_row) > 1 else None), False
    raise ImportFileError(
        gettext(
            "No encontramos la columna de cédula. Pon en la primera fila un encabezado "
            "«cédula» (o «documento», «nuip») y, si quieres, «nombre»; o deja la cédula "
            "en la primera columna, sin encabezado."
        )
    )


def _find_header_row(table: list[list[str]], first_index: int) -> int | None:
    """Spreadsheets often carry a title or a date above the header: look a few rows down."""
    for index in range(first_index, min(len(table), first_index + HEADER_SEARCH_ROWS)):
        keys = {header_key(cell) for cell in table[index]}
        if keys & CEDULA_HEADERS:
            return index
    return None


def clean_name(raw: str) -> str:
    """Without control or invisible format characters (NUL, bidi overrides), single spaces,
    at most MAX_NAME_CHARS."""
    kept = "".join(
        " " if ch in "\t\r\n" else ch
        for ch in raw
        if ch in "\t\r\n" or unicodedata.category(ch) not in ("Cc", "Cf")
    )
    return " ".join(kept.split())[:MAX_NAME_CHARS]


def classify_rows(table: list[list[str]], user=None) -> list[dict]:
    """One report entry per non-empty data row, in file order (see ImportBatch.rows). A cédula
    already in the program is `already_registered` when `user` may see it, else the neutral
    `not_registrable`."""
    first_index = next((i for i, row in enumerate(table) if any(c.strip() for c in row)), None)
    if first_index is None:
        raise ImportFileError(gettext("El archivo no tiene filas."))
    header_index = _find_header_row(table, first_index)
    auth_col = None
    if header_index is not None:
        cedula_col, name_col, _ = locate_columns(table[header_index])
        keys = [header_key(cell) for cell in table[header_index]]
        auth_col = next((i for i, k in enumerate(keys) if k in AUTHORIZATION_HEADERS), None)
        start = header_index + 1
    else:
        cedula_col, name_col, _ = locate_columns(table[first_index])
        start = first_index

    entries = []
    first_seen: dict[str, int] = {}
    for index in range(start, len(table)):
        row = table[index]
        if not any(cell.strip() for cell in row):
            continue
        if len(entries) >= MAX_ROWS:
            raise ImportFileError(
                gettext("El archivo tiene más de %(max)d filas. Divídelo en archivos más pequeños.")
                % {"max": MAX_ROWS}
            )
        raw_cedula = row[cedula_col] if cedula_col < len(row) else ""
        raw_name = row[name_col] if name_col is not None and name_col < len(row) else ""
        entry = {
            "line": index + 1,
            "raw_cedula": clean_name(raw_cedula)[:40],
            "cedula": "",
            "full_name": clean_name(raw_name),
            "outcome": Outcome.ACCEPTED,
            "reason": "",
            "params": {},
        }
        try:
            entry["cedula"] = clean_cedula(raw_cedula)
        except InvalidCedula as exc:
            entry.update(outcome=Outcome.INVALID, reason=exc.message, params=exc.params)
        else:
            if entry["full_name"].startswith(FORMULA_PREFIXES):
                entry.update(
                    outcome=Outcome.INVALID,
                    reason=REASON_FORMULA_NAME,
                    params={"char": entry["full_name"][0]},
                )
            elif (
                auth_col is not None
                and header_key(row[auth_col] if auth_col < len(row) else "") not in YES
            ):
                entry.update(outcome=Outcome.INVALID, reason=REASON_NOT_AUTHORIZED)
            elif entry["cedula"] in first_seen:
                entry.update(
                    outcome=Outcome.DUPLICATE_IN_FILE,
                    reason=REASON_DUPLICATE_IN_FILE,
                    params={"first": first_seen[entry["cedula"]]},
                )
            else:
                first_seen[entry["cedula"]] = entry["line"]
        entries.append(entry)

    registered = _registered(first_seen)
    visible = _registered(first_seen, within=selectors.visible_referrals(user)) if user else set()
    for entry in entries:
        if entry["outcome"] == Outcome.ACCEPTED and entry["cedula"] in registered:
            if entry["cedula"] in visible:
                entry.update(outcome=Outcome.ALREADY_REGISTERED, reason=REASON_ALREADY_REGISTERED)
            else:
                entry.update(outcome=Outcome.NOT_REGISTRABLE, reason=REASON_NOT_REGISTRABLE)
    return entries


def _registered(cedulas, within=None) -> set[str]:
    """Which of these cédulas are in the program (`within`: among these referrals)."""
    cedulas = list(cedulas)
    referrals = Referral.objects.all() if within is None else within
    found: set[str] = set()
    for i in range(0, len(cedulas), 900):  # under SQLite's limit of bound parameters
        chunk = cedulas[i : i + 900]
        found.update(referrals.filter(cedula__in=chunk).values_list("cedula", flat=True))
    return found


# --- the two steps -------------------------------------------------------------------------


def prepare_import(*, user, data: bytes, filename: str) -> ImportBatch:
    """Read and check the file; store the report for the user to confirm. Creates no referral."""
    rows = classify_rows(read_table(data, filename), user)
    return ImportBatch.objects.create(created_by=user, filename=filename[:255], rows=rows)


class ImportNotAttested(ValueError):
    """Confirming without attesting that the people in the file authorized their data."""


def confirm_import(batch: ImportBatch, *, attested: bool, request=None) -> ConfirmResult:
    """Create the accepted rows of a batch in review, in one transaction; each referral's
    verification is published after the commit. Confirming twice creates nothing the second
    time (ImportBatch.state moves out of `review` in the same transaction).

    `attested`: the uploader confirms that every person in the file authorized the handling of
    their data under the policy in force (ImportNotAttested otherwise: nothing is created).
    Every row counts against the uploader's NEW_REFERRALS_DAILY_CAP: a file over what is left
    today creates nothing (DailyCapReached)."""
    if not attested:
        raise ImportNotAttested()
    consent = services.authorization(ConsentMethod.IMPORT_ATTESTATION, by=batch.created_by)
    user = batch.created_by
    with transaction.atomic():
        claimed = ImportBatch.objects.filter(pk=batch.pk, state=ImportBatch.State.REVIEW).update(
            state=ImportBatch.State.CONFIRMED, confirmed_at=timezone.now()
        )
        if not claimed:
            return ConfirmResult(created=0, taken_meanwhile=0)
        rows = batch.rows
        accepted = [r for r in rows if r["outcome"] == Outcome.ACCEPTED]
        granted = quotas.reserve(quotas.NEW_REFERRALS, user, len(accepted), when_redis_down="allow")
        if granted < len(accepted):
            quotas.give_back(quotas.NEW_REFERRALS, user, granted)
            raise services.DailyCapReached(quotas.cap(quotas.NEW_REFERRALS))
        # ignore_conflicts: a cédula registered by someone else since the report (even in a
        # transaction still running) is skipped by the database instead of failing the batch.
        Referral.objects.bulk_create(
            [
                Referral(
                    cedula=r["cedula"],
                    full_name=r["full_name"],
                    referred_by=user,
                    import_batch=batch,
                    source=Referral.Source.IMPORT,
                    consent_method=consent.method,
                    consent_policy_version=consent.policy_version,
                    consent_at=consent.at,
                    consent_by=consent.by,
                )
                for r in accepted
            ],
            ignore_conflicts=True,
            batch_size=500,
        )
        created = dict(batch.referrals.values_list("cedula", "pk"))
        taken = 0
        for r in accepted:
            if r["cedula"] not in created:
                r.update(outcome=Outcome.ALREADY_REGISTERED, reason=REASON_TAKEN_MEANWHILE)
                taken += 1
        # Cédulas in the program that the uploader may not see: a claim each, for their team.
        claims = {r["cedula"] for r in rows if r["outcome"] == Outcome.NOT_REGISTRABLE}
        taken_cedulas = {r["cedula"] for r in accepted if r["cedula"] not in created}
        for existing in _existing(claims | taken_cedulas):
            answer = services.duplicate(
                asker=user, existing=existing, source=Referral.Source.IMPORT
            )
            if answer.referral is None and existing.cedula in taken_cedulas:
                for r in accepted:
                    if r["cedula"] == existing.cedula:
                        r.update(outcome=Outcome.NOT_REGISTRABLE, reason=REASON_NOT_REGISTRABLE)
        quotas.give_back(quotas.NEW_REFERRALS, user, taken)
        batch.rows = rows
        batch.state = ImportBatch.State.CONFIRMED
        batch.save(update_fields=["rows"])
        for referral_id in created.values():
            services.enqueue_verification(referral_id)
        audit.record(
            audit.Action.IMPORTED,
            actor=user,
            request=request,
            target=batch,
            created=len(created),
            rows=len(rows),
            claims=len(claims),
        )
    return ConfirmResult(created=len(created), taken_meanwhile=taken)


def _existing(cedulas):
    cedulas = list(cedulas)
    for i in range(0, len(cedulas), 900):
        yield from Referral.objects.filter(cedula__in=cedulas[i : i + 900])


def cancel_import(batch: ImportBatch) -> bool:
    return bool(
        ImportBatch.objects.filter(pk=batch.pk, state=ImportBatch.State.REVIEW).update(
            state=ImportBatch.State.CANCELLED
        )
    )


# --- showing the report --------------------------------------------------------------------


def row_reason(row: dict) -> str:
    """The row's reason in the active language."""
    if row.get("erased"):
        return gettext(REASON_ERASED)
    if not row.get("reason"):
        return ""
    text = gettext(row["reason"])
    return text % row["params"] if row.get("params") else text


def report_rows(batch: ImportBatch, limit: int) -> list[dict]:
    """The first `limit` rows of the report, each with its reason in the active language and,
    when the cédula is one of the user's own referrals (registered by this batch or before),
    the referral's id, so the row links to it."""
    rows = batch.rows[:limit]
    cedulas = [r["cedula"] for r in rows if r.get("cedula")]
    own = dict(
        Referral.objects.filter(referred_by=batch.created_by, cedula__in=cedulas).values_list(
            "cedula", "pk"
        )
    )
    return [
        dict(row, reason_text=row_reason(row), referral_id=own.get(row.get("cedula")))
        for row in rows
    ]


def outcome_counts(rows: list[dict]) -> dict[str, int]:
    counts = dict.fromkeys(Outcome.ALL, 0)
    for row in rows:
        counts[row["outcome"]] += 1
    counts["total"] = len(rows)
    return counts


# --- after confirming: progress --------------------------------------------------------------


@dataclass(frozen=True)
class BatchProgress:
    total: int
    finished: int  # reached a final state, whatever the census said
    verified: int  # found in the census, with a voting place
    not_verified: int  # not in census, cancelled, in review
    failed: int  # failed or blocked: our side could not check them
    delayed: int  # in flight and flagged by the stale sweep

    @property
    def in_flight(self) -> int:
        return self.total - self.finished

    @property
    def done(self) -> bool:
        return self.finished >= self.total


def batch_progress(batch: ImportBatch) -> BatchProgress:
    failed = [Status.FAILED, Status.BLOCKED]
    counts = batch.referrals.aggregate(
        total=Count("pk"),
        finished=Count("pk", filter=Q(status__in=Status.final())),
        verified=Count("pk", filter=Q(status=Status.VERIFIED)),
        failed=Count("pk", filter=Q(status__in=failed)),
        delayed=Count(
            "pk", filter=Q(status__in=Status.in_flight(), stale_flagged_at__isnull=False)
        ),
    )
    not_verified = counts["finished"] - counts["verified"] - counts["failed"]
    return BatchProgress(not_verified=not_verified, **counts)
