"""Pure functions: census JSON / page bodies → results or the right error. No browser here."""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Mapping
from html.parser import HTMLParser
from typing import Any

from scraping import site
from scraping.errors import (
    BotDetectedError,
    CaptchaTokenRejected,
    NetworkError,
    PageChangedError,
    PageReloadNeeded,
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
            if isinstance(value, float) and value.is_integer():
                value = int(value)  # a numeric mesa: 13.0 is mesa "13"
            if value is not None and value != "" and not isinstance(value, (Mapping, list)):
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


def parse_consulta_body(body: str, cedula: str) -> CensusResult:
    """consultacenso's answer body: the JSON API (mid-2026), or an HTML table (January 2026)."""
    raise_if_blocked(body)
    try:
        payload = json.loads(body)
    except ValueError:
        # Not JSON: the January 2026 shape, a table (or a census text) rendered as HTML.
        return parse_census_table(body, cedula)
    return parse_consulta(payload, cedula)


class _TableReader(HTMLParser):
    """The first table of an HTML fragment: its header labels and its rows of cells (each cell
    as (data-th label or '', text)), plus the fragment's text outside the table."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.headers: list[str] = []
        self.rows: list[list[tuple[str, str]]] = []
        self.outside: list[str] = []
        self._depth = 0  # tables open
        self._done = False  # the first table has ended
        self._cell: list[str] | None = None
        self._label = ""
        self._is_header = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "table":
            self._depth += 1
        if self._depth != 1 or self._done:
            return
        if tag == "tr":
            self.rows.append([])
        elif tag in ("td", "th"):
            self._cell, self._is_header = [], tag == "th"
            self._label = dict(attrs).get("data-th") or ""

    def handle_endtag(self, tag: str) -> None:
        if tag in ("td", "th") and self._cell is not None:
            text = " ".join("".join(self._cell).split())
            if self._is_header:
                self.headers.append(text)
            elif self.rows:
                self.rows[-1].append((self._label, text))
            self._cell = None
        elif tag == "table" and self._depth:
            self._depth -= 1
            self._done = self._done or self._depth == 0

    def handle_data(self, data: str) -> None:
        if self._cell is not None:
            self._cell.append(data)
        elif not self._depth:
            self.outside.append(data)

    def text_outside(self) -> str:
        return " ".join(" ".join(self.outside).split())


def parse_census_table(html: str, cedula: str) -> CensusResult:
    """The answer as an HTML table: NUIP, DEPARTAMENTO, MUNICIPIO, PUESTO, DIRECCIÓN, MESA
    (found) or NUIP, NOVEDAD, RESOLUCIÓN, FECHA NOVEDAD (a cancelled document). Columns are
    found by their header or `data-th` label (`site.TABLE_COLUMNS`), never by position alone.
    Without a table, the text is judged by words (not in the census, …)."""
    reader = _TableReader()
    reader.feed(html)
    reader.close()
    raw = {"html": html[:RAW_HTML_CAP]}
    rows = [row for row in reader.rows if row]
    if not rows:
        text = reader.text_outside()
        status = status_from_message(text, default=CensusStatus.FOUND)
        if status is CensusStatus.FOUND:
            raise PageChangedError(f"census answer without a table or known words: {text[:120]!r}")
        return CensusResult(cedula=cedula, status=status, message=text, raw=raw)
    cells: dict[str, str] = {}
    for i, (label, text) in enumerate(rows[0]):
        header = label or (reader.headers[i] if i < len(reader.headers) else "")
        name = site.TABLE_COLUMNS.get(site.fold(header).strip(" :"))
        if name:
            cells[name] = text
    if "novedad" in cells:
        novedad = cells["novedad"]
        extra = " — ".join(t for t in (cells.get("resolucion"), cells.get("fecha_novedad")) if t)
        message = " — ".join(t for t in (novedad, extra) if t)
        status = status_from_message(novedad, default=CensusStatus.CANCELLED_OTHER)
        return CensusResult(cedula=cedula, status=status, message=message, raw=raw)
    result = CensusResult(
        cedula=cedula,
        status=CensusStatus.FOUND,
        departamento=cells.get("departamento", ""),
        municipio=cells.get("municipio", ""),
        puesto=cells.get("puesto", ""),
        direccion=cells.get("direccion", ""),
        mesa=cells.get("mesa", ""),
        raw=raw,
    )
    if not (result.departamento or result.municipio or result.puesto):
        raise PageChangedError(f"census table without place columns: {reader.headers}")
    return result


RAW_HTML_CAP = 20_000  # characters of an HTML answer kept in CensusResult.raw


def parse_wsp(payload: Any, cedula: str) -> CensusResult:
    """The older form's JSON: {"success": true, "data": {"message": "<table or text>"}}, or
    success:false with "Marque el cuadro…" (token refused), "Curl error … timed out" (the site's
    own upstream: retryable), other texts (refused); {"reload": true}: load the page again."""
    if not isinstance(payload, Mapping):
        raise PageChangedError(f"wsp answer is not a JSON object: {type(payload).__name__}")
    answer = _NoCase(payload)
    if _truthy(answer.get("reload")):
        raise PageReloadNeeded("wsp asked for a reload (session or token expired)")
    if "success" not in answer:
        raise PageChangedError(f"wsp answer without 'success': keys {sorted(answer)}")
    data = answer.obj("data")
    message = data.text("message", "mensaje") or answer.text("message", "mensaje")
    if not _truthy(answer["success"]):
        text = " ".join(_html_text(message).split())
        if site.contains_any(text, site.WSP_CAPTCHA_WORDS):
            raise CaptchaTokenRejected(text[:300] or "captcha refused")
        if site.contains_any(text, site.WSP_UPSTREAM_WORDS):
            raise NetworkError(f"wsp upstream failed: {text[:200]}")
        if site.contains_any(text, site.THROTTLE_WORDS):
            raise RateLimitedError(text[:300])
        raise RequestRefusedError(text[:300] or "wsp refused the request")
    if not message:
        raise PageChangedError("wsp success answer without data.message")
    result = parse_census_table(message, cedula)
    return dataclasses.replace(result, raw=dict(payload))


def _html_text(html: str) -> str:
    reader = _TableReader()
    reader.feed(html or "")
    reader.close()
    return reader.text_outside()


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
