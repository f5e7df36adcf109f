"""Writes of the API: tokens (created, revoked, used) and Idempotency-Key answers."""

import hashlib
import secrets
from datetime import timedelta

from django.conf import settings
from django.db import IntegrityError, transaction
from django.utils import timezone

from .models import ApiToken, IdempotentRequest

KEY_PREFIX = "cv_"
MAX_TOKENS_PER_USER = 20
# last_used_at is written at most this often per token: not one UPDATE per request.
LAST_USED_RESOLUTION = timedelta(minutes=1)


def hash_key(key: str) -> str:
    # Keys are 256 random bits: a plain SHA-256 cannot be brute-forced (no password hashing
    # needed, and it keeps each request's lookup one indexed query).
    return hashlib.sha256(key.encode()).hexdigest()


class TooManyTokens(Exception):
    pass


def create_token(*, user, name: str) -> tuple[ApiToken, str]:
    """A new token for `user`. Returns (token, key): the key is never shown again."""
    if ApiToken.objects.filter(user=user, revoked_at__isnull=True).count() >= MAX_TOKENS_PER_USER:
        raise TooManyTokens()
    key = KEY_PREFIX + secrets.token_urlsafe(32)
    token = ApiToken.objects.create(
        user=user, name=name.strip()[:100] or "API", prefix=key[:10], key_hash=hash_key(key)
    )
    return token, key


def revoke_token(token: ApiToken) -> None:
    ApiToken.objects.filter(pk=token.pk, revoked_at__isnull=True).update(revoked_at=timezone.now())


def token_for_key(key: str) -> ApiToken | None:
    token = (
        ApiToken.objects.select_related("user")
        .filter(key_hash=hash_key(key), revoked_at__isnull=True, user__is_active=True)
        .first()
    )
    if token is not None:
        now = timezone.now()
        if token.last_used_at is None or now - token.last_used_at > LAST_USED_RESOLUTION:
            ApiToken.objects.filter(pk=token.pk).update(last_used_at=now)
    return token


# --- Idempotency-Key ---------------------------------------------------------------------------


class KeyReused(Exception):
    """The key came with another request body."""


class KeyInUse(Exception):
    """A request with this key is still being answered."""


def body_fingerprint(body: bytes) -> str:
    return hashlib.sha256(body).hexdigest()


def stored_answer(*, user, key: str, fingerprint: str) -> IdempotentRequest | None:
    """The kept answer for `key`, if any (KeyReused for another body)."""
    since = timezone.now() - timedelta(seconds=settings.API_IDEMPOTENCY_TTL)
    IdempotentRequest.objects.filter(user=user, key=key, created_at__lt=since).delete()
    kept = IdempotentRequest.objects.filter(user=user, key=key).first()
    if kept is not None and kept.fingerprint != fingerprint:
        raise KeyReused()
    return kept


def answer_once(*, user, key: str, fingerprint: str, answer) -> tuple[int, object, bool]:
    """Run `answer()` -> (status, body) and keep its result under `key`, in one transaction:
    the referrals it creates and the kept answer commit together, or neither does.
    Returns (status, body, replayed)."""
    kept = stored_answer(user=user, key=key, fingerprint=fingerprint)
    if kept is not None:
        return kept.status_code, kept.response, True
    try:
        with transaction.atomic():
            # Claimed first: a concurrent request with the same key waits on this row's unique
            # index and then fails, instead of creating the referrals a second time.
            claim = IdempotentRequest.objects.create(
                user=user, key=key, fingerprint=fingerprint, status_code=0, response={}
            )
            status, body = answer()
            claim.status_code, claim.response = status, body
            claim.save(update_fields=["status_code", "response"])
    except IntegrityError:
        kept = stored_answer(user=user, key=key, fingerprint=fingerprint)
        if kept is None or kept.status_code == 0:
            raise KeyInUse() from None
        return kept.status_code, kept.response, True
    return status, body, False
