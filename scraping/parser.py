"""Pure functions: census JSON / page bodies → results or the right error. No browser here."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from scraping import site
from scraping.errors import (
    BotDetectedError,
    CaptchaTokenRejected,
    PageChangedError,
    RateLimitedError,
    RequestRefusedError,
)
from scraping.results import CensusResult, CensusStatus


def detect_block(body: str) -> str | None:
    """Name the bot-protection page `body` is, or None when it looks like real content.

    Returns "rejected" (F5 block page, whatever the HTTP status), "javascript_required"
    (only the <noscript> text reached us) or "challenge" (the F5 script that sets a cookie and
    reloads — fine in a browser, a block when it is the final answer).
    """
    folded = site.fold(body)
    if any(marker in folded for marker in site.BLOCK_PAGE_MARKERS):
        return "rejected"
    if all(marker in folded for marker in site.CHALLENGE_MARKERS):
        return "challenge"
    if any(marker in folded for marker in site.JS_REQUIRED_MARKERS):
        return "javascript_required"
    return None


def raise_if_blocked(body: str) -> None:
    kind = detect_block(body)
    if kind is not None:
        raise BotDetectedError(f"bot protection page instead of content ({kind})")


def status_from_message(message: str, *, default: CensusStatus) -> CensusStatus:
    """Map the site's text to a state by words; `default` (from the answer's shape) otherwise."""
    if site.contains_any(message, site.DECEASED_WORDS):
        return CensusStatus.CANCELLED_DECEASED
    if site.contains_any(message, site.PENDING_WORDS):
        return CensusStatus.PENDING_REVIEW
    if site.contains_any(message, site.NOT_IN_CENSUS_WORDS):
        return CensusStatus.NOT_IN_CENSUS
    if site.contains_any(message, site.CANCELLED_OTHER_WORDS):
        return CensusStatus.CANCELLED_OTHER
    return default


class _NoCase(Mapping[str, Any]):
    """Read-only view of a JSON object with case-insensitive keys (the site varies the case)."""

    def __init__(self, data: Mapping[str, Any]) -> None:
        self._data = {str(k).casefold(): v for k, v in data.items()}

    def __getitem__(self, key: str) -> Any:
        return self._data[key.casefold()]

    def __iter__(self):
        return iter(self._data)

    def __len__(self) -> int:
        return len(self._data)

    def text(self, *keys: str) -> str:
        """First present key as text ('' when none is); numbers become their digits."""
        for key in keys:
            value = self.get(key)
            if value is not None and value != "":
                return str(value).strip()
        return ""

    def obj(self, key: str) -> _NoCase:
        value = self.get(key)
        return _NoCase(value) if isinstance(value, Mapping) else _NoCase({})


def _float(value: Any) -> float | None:
    try:
        return float(value)
    except (TypeError, ValueError):
        return None


def _truthy(value: Any) -> bool:
    return value is True or (isinstance(value, str) and value.strip().lower() == "true")


def parse_consulta(payload: Any, cedula: str) -> CensusResult:
    """Turn the JSON of POST /back/api/consulta into a CensusResult.

    Raises CaptchaTokenRejected (ok:false about the captcha/token — renew and resubmit),
    RateLimitedError (ok:false throttling text), RequestRefusedError (other ok:false),
    PageChangedError (a shape we do not know).
    """
    if not isinstance(payload, Mapping):
        raise PageChangedError(f"consulta answer is not a JSON object: {type(payload).__name__}")
    raw = dict(payload)
    answer = _NoCase(payload)
    if "ok" not in answer:
        raise PageChangedError(f"consulta answer without 'ok': keys {sorted(answer)}")

    if not _truthy(answer["ok"]):
        error = answer.text("error", "mensaje", "message")
        if site.contains_any(error, site.CAPTCHA_ERROR_WORDS):
            raise CaptchaTokenRejected(error or "captcha token rejected")
        if site.contains_any(error, site.THROTTLE_WORDS):
            raise RateLimitedError(error)
        raise RequestRefusedError(error or "census API refused the request")

    message = answer.text("mensaje", "message", "descripcion")
    if _truthy(answer.get("novedad")):
        # A census "novelty": the document was cancelled or changed. Keep both texts.
        text = " — ".join(t for t in (answer.text("mensaje"), answer.text("descripcion")) if t)
        status = status_from_message(text, default=CensusStatus.CANCELLED_OTHER)
        return CensusResult(cedula=cedula, status=status, message=text, raw=raw)

    if "encontrado" not in answer:
        raise PageChangedError(f"consulta answer without 'encontrado': keys {sorted(answer)}")
    if not _truthy(answer["encontrado"]):
        status = status_from_message(message, default=CensusStatus.NOT_IN_CENSUS)
        return CensusResult(cedula=cedula, status=status, message=message, raw=raw)

    data = answer.obj("data")
    if not data:
        raise PageChangedError("found answer without a 'data' object")
    mapa = answer.obj("mapa") or data.obj("mapa")
    result = CensusResult(
        cedula=cedula,
        status=CensusStatus.FOUND,
        message=message,
        departamento=data.text("nom_depto", "departamento", "depto"),
        municipio=data.text("nom_mun", "municipio"),
        puesto=data.text("nom_puesto", "puesto"),
        direccion=data.text("direccion", "dir_puesto"),
        mesa=data.text("mesa"),
        fecha_ingreso=data.text("fingreso") or answer.text("fingreso"),
        coddivipol=data.text("coddivipol") or answer.text("coddivipol"),
        latitude=_float(mapa.get("lat")),
        longitude=_float(mapa.get("lng", mapa.get("lon"))),
        map_url=mapa.text("url"),
        raw=raw,
    )
    if not (result.departamento or result.municipio or result.puesto):
        raise PageChangedError(f"found answer without place fields: keys {sorted(data)}")
    return result


def parse_rendered_result(text: str, cedula: str) -> CensusResult:
    """Last resort when the JSON could not be read: judge the rendered result text."""
    raise_if_blocked(text)
    if not text.strip():
        raise PageChangedError("empty result area")
    if site.contains_any(text, site.CAPTCHA_ERROR_WORDS):
        raise CaptchaTokenRejected(text.strip())
    status = status_from_message(text, default=CensusStatus.FOUND)
    if status is CensusStatus.FOUND:
        # Place fields need the JSON; a rendered "found" without it is not trustworthy enough.
        raise PageChangedError("result rendered but the JSON answer was unreadable")
    return CensusResult(cedula=cedula, status=status, message=text.strip())


def parse_retry_after(value: str | None) -> float | None:
    """`Retry-After` as seconds: either a number or an HTTP date."""
    if not value:
        return None
    value = value.strip()
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    from datetime import UTC, datetime
    from email.utils import parsedate_to_datetime

    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(0.0, (when - datetime.now(UTC)).total_seconds())
