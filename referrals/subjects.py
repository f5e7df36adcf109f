"""Data subjects' rights (Ley 1581 de 2012, art. 8): what the portal holds on a person, a file
of it, correcting it, deleting it; and retention, which deletes what is past its time.

Deleting a person (`erase_cedula`) removes, in one transaction: the referral (with its scrape
attempts and their raw answers, and any duplicate claims), the rows of every import batch that
carry the cédula (their name with them), and, through `privacy.signals.subject_erased`, the
copies other apps keep (webhook payloads, the API's kept answers). The audit entry names the
person by a keyed hash of the cédula only.
"""

import json
import logging
from dataclasses import dataclass, field
from datetime import timedelta

from django.conf import settings
from django.db import transaction
from django.db.models import TextField
from django.db.models.functions import Cast
from django.utils import timezone

from privacy import audit
from privacy.signals import subject_erased

from .cedula import clean_cedula
from .models import ImportBatch, Referral

log = logging.getLogger(__name__)

ROW_PERSONAL_KEYS = ("cedula", "raw_cedula", "full_name")


@dataclass
class SubjectData:
    cedula: str
    referral: Referral | None
    batch_rows: list[tuple[ImportBatch, dict]] = field(default_factory=list)

    @property
    def found(self) -> bool:
        return self.referral is not None or bool(self.batch_rows)


def _row_is_of(row: dict, cedula: str) -> bool:
    if row.get("cedula") == cedula:
        return True
    raw = "".join(ch for ch in str(row.get("raw_cedula", "")) if ch.isdigit())
    return raw == cedula


def batches_holding(cedula: str):
    """Import batches whose stored rows mention the cédula (a text search first, then each row
    checked: a longer number containing it is not it)."""
    return (
        ImportBatch.objects.annotate(rows_text=Cast("rows", TextField()))
        .filter(rows_text__contains=cedula)
        .order_by("pk")
    )


def find_subject(cedula: str) -> SubjectData:
    """Everything the portal holds on the person with `cedula` (InvalidCedula for bad text)."""
    cedula = clean_cedula(cedula)
    data = SubjectData(cedula=cedula, referral=Referral.objects.filter(cedula=cedula).first())
    for batch in batches_holding(cedula):
        data.batch_rows += [(batch, row) for row in batch.rows if _row_is_of(row, cedula)]
    return data


def subject_report(data: SubjectData, *, produced_by: str = "") -> dict:
    """The file a data subject receives: every field held on them, and what it is for."""
    referral = data.referral
    held = None
    if referral is not None:
        held = {
            "cedula": referral.cedula,
            "nombre": referral.full_name,
            "registrado": referral.created_at.isoformat(),
            "registrado_por": referral.referred_by.get_username(),
            "origen": referral.source,
            "estado": referral.status,
            "autorizacion": {
                "forma": referral.consent_method,
                "version_politica": referral.consent_policy_version,
                "cuando": referral.consent_at.isoformat() if referral.consent_at else None,
                "registrada_por": referral.consent_by.get_username()
                if referral.consent_by
                else None,
            },
            "censo": {
                "departamento": referral.departamento,
                "municipio": referral.municipio,
                "puesto": referral.puesto,
                "direccion": referral.direccion,
                "mesa": referral.mesa,
                "fecha_inscripcion": referral.fecha_ingreso,
                "respuesta_completa": referral.census_raw,
            },
            "verificaciones": [
                {
                    "inicio": a.started_at.isoformat(),
                    "resultado": a.outcome,
                    "error": a.error_message,
                }
                for a in referral.scrape_attempts.all()
            ],
            "reclamos_de_duplicado": referral.claims.count(),
        }
    return {
        "titular": data.cedula,
        "generado": timezone.now().isoformat(),
        "generado_por": produced_by,
        "finalidad": "Organizar el programa de referidos de la campaña y verificar el puesto "
        "de votación del titular en el censo electoral de la Registraduría.",
        "referido": held,
        "copias_en_importaciones": [
            {
                "importacion": batch.pk,
                "archivo": batch.filename,
                "fila": row.get("line"),
                "subida": batch.created_at.isoformat(),
                "nombre": row.get("full_name", ""),
            }
            for batch, row in data.batch_rows
        ],
    }


def report_file(*, data: SubjectData, actor, request=None) -> bytes:
    audit.record(audit.Action.SUBJECT_EXPORTED, actor=actor, request=request, subject=data.cedula)
    report = subject_report(data, produced_by=actor.get_username())
    return json.dumps(report, ensure_ascii=False, indent=2).encode()


def correct_subject(*, actor, referral: Referral, full_name: str, request=None) -> None:
    """Correct the name held (the cédula is the person: a wrong cédula is deleted and registered
    again, which verifies the right person)."""
    with transaction.atomic():
        Referral.objects.filter(pk=referral.pk).update(
            full_name=" ".join(full_name.split())[:200], updated_at=timezone.now()
        )
        audit.record(
            audit.Action.CORRECTED,
            actor=actor,
            request=request,
            target=referral,
            subject=referral.cedula,
            fields=["full_name"],
        )


def _scrub_batches(cedula: str) -> int:
    """Blank the cédula and name of every stored import row of the person; the row keeps its
    line and outcome, so the batch's counts stay true. Returns the rows scrubbed."""
    scrubbed = 0
    for batch in batches_holding(cedula).select_for_update():
        rows, changed = batch.rows, 0
        for row in rows:
            if _row_is_of(row, cedula):
                row.update(dict.fromkeys(ROW_PERSONAL_KEYS, ""), erased=True, params={})
                changed += 1
        if changed:
            ImportBatch.objects.filter(pk=batch.pk).update(rows=rows)
            scrubbed += changed
    return scrubbed


def erase_cedula(*, cedula: str, actor=None, request=None, reason: str = "subject_request") -> dict:
    """Delete everything held on the person with `cedula`; returns counts. Idempotent."""
    cedula = clean_cedula(cedula)
    with transaction.atomic():
        referral = Referral.objects.select_for_update().filter(cedula=cedula).first()
        names = [referral.full_name] if referral and referral.full_name else []
        referral_id = referral.pk if referral else None
        rows = _scrub_batches(cedula)
        if referral is not None:
            referral.delete()  # its attempts (raw answers) and claims with it
        subject_erased.send(sender=Referral, cedula=cedula, names=names, referral_id=referral_id)
        counts = {"referral": int(referral_id is not None), "import_rows": rows}
        audit.record(
            audit.Action.DELETED,
            actor=actor,
            request=request,
            subject=cedula,
            referral_id=referral_id,
            reason=reason,
            **counts,
        )
    return counts


# --- retention -------------------------------------------------------------------------------


def purge_expired(now=None) -> dict:
    """Delete referrals without activity for DATA_RETENTION_DAYS (each erased like a subject
    request) and empty the stored rows of import batches older than IMPORT_ROWS_RETENTION_DAYS.
    Returns the counts; a second run finds nothing more to do."""
    now = now or timezone.now()
    referral_cutoff = now - timedelta(days=settings.DATA_RETENTION_DAYS)
    rows_cutoff = now - timedelta(days=settings.IMPORT_ROWS_RETENTION_DAYS)
    # Last activity: any write (verification, correction, re-verification) moves updated_at.
    due = list(
        Referral.objects.filter(updated_at__lt=referral_cutoff).values_list("cedula", flat=True)
    )
    for cedula in due:
        erase_cedula(cedula=cedula, reason="retention")
    batches = ImportBatch.objects.filter(created_at__lt=rows_cutoff).exclude(rows=[])
    emptied = rows = 0
    for batch in batches.iterator():
        with transaction.atomic():
            if ImportBatch.objects.filter(pk=batch.pk).exclude(rows=[]).update(rows=[]):
                emptied += 1
                rows += len(batch.rows)
    counts = {"referrals": len(due), "batches_emptied": emptied, "import_rows": rows}
    if any(counts.values()):
        audit.record(audit.Action.RETENTION_PURGED, actor_name="retention", **counts)
    log.info("retention purge: %s", counts)
    return counts
