"""The one writer of the audit log: `record(action, ...)`.

One INSERT per call, in the caller's transaction (an action rolled back leaves no entry). It
never stores a cédula or a name: referrals by id, a deleted person by `subject_hash`, free text
passes `mask_cedulas`.
"""

import hashlib
import hmac
import logging

from django.conf import settings

from project.redaction import mask_cedulas

from .models import Action, AuditEntry

log = logging.getLogger(__name__)

__all__ = ["Action", "client_address", "record", "subject_hash"]


def _key() -> bytes:
    secret = settings.AUDIT_HASH_KEY or f"audit-subject:{settings.SECRET_KEY}"
    return secret.encode()


def subject_hash(cedula: str) -> str:
    """A keyed hash (HMAC-SHA256) of a cédula: the same person always gives the same value, so a
    later request can be matched to a deletion, but the log does not say who it was."""
    return hmac.new(_key(), cedula.encode(), hashlib.sha256).hexdigest()


def client_address(request) -> str | None:
    address = request.META.get("REMOTE_ADDR") if request is not None else None
    return address or None


def _clean(value):
    if isinstance(value, str):
        return mask_cedulas(value)[:500]
    if isinstance(value, dict):
        return {str(k)[:60]: _clean(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_clean(v) for v in value][:50]
    return value


def record(
    action: str,
    *,
    actor=None,
    request=None,
    target=None,
    subject: str = "",
    **detail,
) -> AuditEntry:
    """Append one entry: `actor` (default the request's user) did `action` to `target` (a model
    instance, named by type and id) or to the person whose cédula is `subject` (stored hashed)."""
    if actor is None and request is not None:
        actor = getattr(request, "user", None)
    if actor is not None and not actor.is_authenticated:
        actor = None
    entry = AuditEntry(
        actor=actor,
        actor_name=detail.pop("actor_name", "") or (actor.get_username() if actor else ""),
        action=action,
        target_type=target._meta.model_name if target is not None else "",
        target_id=str(target.pk) if target is not None else "",
        subject_hash=subject_hash(subject) if subject else "",
        address=client_address(request),
        detail=_clean(detail),
    )
    entry.save()
    return entry
