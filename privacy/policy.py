"""The data policy in force, and who has accepted it.

The newest PolicyVersion published in the admin is in force; without one, the built-in version
of the settings (DATA_POLICY_VERSION, DATA_CONTROLLER_NAME, DATA_CONTROLLER_CONTACT,
DATA_POLICY_TEXT, PRIVACY_NOTICE_TEXT). Its texts, when empty, are the portal's own
(templates/privacy/_default_*.html).
"""

import time
from dataclasses import dataclass

from django.conf import settings
from django.db import IntegrityError, transaction

from . import audit
from .models import PolicyAcceptance, PolicyVersion

# The version a signed-in user accepted, kept in their session: the middleware's check costs no
# query on most requests.
SESSION_KEY = "privacy_policy_version"
CHECKED_KEY = "privacy_policy_checked"
# The version in force, read from the database at most this often per process (a version
# published in the admin clears it at once in that process: see clear_cache).
CACHE_SECONDS = 5.0
_cache: dict = {}


@dataclass(frozen=True)
class Policy:
    version: str
    controller: str
    contact: str
    notice_text: str
    policy_text: str


def clear_cache(**kwargs) -> None:
    _cache.clear()


def current_policy() -> Policy:
    now = time.monotonic()
    if _cache and now - _cache["at"] < CACHE_SECONDS:
        return _cache["policy"]
    _cache.update(at=now, policy=_read_policy())
    return _cache["policy"]


def _read_policy() -> Policy:
    published = PolicyVersion.objects.first()
    if published is not None:
        return Policy(
            version=published.version,
            controller=published.controller,
            contact=published.contact,
            notice_text=published.notice_text,
            policy_text=published.policy_text,
        )
    return Policy(
        version=settings.DATA_POLICY_VERSION,
        controller=settings.DATA_CONTROLLER_NAME,
        contact=settings.DATA_CONTROLLER_CONTACT,
        notice_text=settings.PRIVACY_NOTICE_TEXT,
        policy_text=settings.DATA_POLICY_TEXT,
    )


def current_version() -> str:
    return current_policy().version


def accepted_versions(user) -> set[str]:
    return set(PolicyAcceptance.objects.filter(user=user).values_list("version", flat=True))


def accept(*, user, version: str, request=None) -> None:
    """Record that `user` accepted `version` (once; accepting again changes nothing)."""
    try:
        with transaction.atomic():
            PolicyAcceptance.objects.create(user=user, version=version)
    except IntegrityError:
        pass  # accepted already
    else:
        audit.record(audit.Action.POLICY_ACCEPTED, actor=user, request=request, version=version)
    if request is not None and hasattr(request, "session"):
        request.session[SESSION_KEY] = request.session[CHECKED_KEY] = version


def must_accept_again(user, request=None) -> bool:
    """True when `user` accepted an earlier version and not the one in force. An account that
    never accepted any (made before the policy was recorded, or by a command) is asked by a
    banner instead: blocking it would lock out accounts nobody could have asked. The answer
    "nothing to accept again" is kept in the session for the version in force."""
    version = current_version()
    session = getattr(request, "session", None)
    if session is not None and session.get(CHECKED_KEY) == version:
        return False
    accepted = accepted_versions(user)
    blocking = bool(accepted) and version not in accepted
    if not blocking and session is not None:
        session[CHECKED_KEY] = version
    return blocking


def needs_first_acceptance(user, request=None) -> bool:
    version = current_version()
    session = getattr(request, "session", None)
    if session is not None and session.get(SESSION_KEY) == version:
        return False
    return not PolicyAcceptance.objects.filter(user=user, version=version).exists()
