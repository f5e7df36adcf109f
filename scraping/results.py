"""What a lookup returns: a census state plus whatever place data the site gave."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any


class CensusStatus(StrEnum):
    FOUND = "found"  # in the census, with a voting place
    NOT_IN_CENSUS = "not_in_census"  # the census does not list the document
    CANCELLED_DECEASED = "cancelled_deceased"  # document cancelled by death
    CANCELLED_OTHER = "cancelled_other"  # cancelled/dropped for another reason
    PENDING_REVIEW = "pending_review"  # a request on the document is still in process


@dataclass(frozen=True)
class CensusResult:
    cedula: str
    status: CensusStatus
    message: str = ""  # the site's own text, kept verbatim (shown to staff)
    departamento: str = ""
    municipio: str = ""
    puesto: str = ""
    direccion: str = ""  # as given: sometimes the school's name rather than a street address
    mesa: str = ""
    fecha_ingreso: str = ""
    coddivipol: str = ""
    latitude: float | None = None
    longitude: float | None = None
    map_url: str = ""
    raw: dict[str, Any] = field(default_factory=dict)  # the JSON answer, for audits
    source: str = ""  # the census page that answered (`scraping.sources`)

    @property
    def is_found(self) -> bool:
        return self.status is CensusStatus.FOUND

    def to_dict(self) -> dict[str, Any]:
        """JSON-safe dict (the status as its string value)."""
        data = dataclasses.asdict(self)
        data["status"] = self.status.value
        return data

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> CensusResult:
        known = {f.name for f in dataclasses.fields(cls)}
        values = {k: v for k, v in data.items() if k in known}
        values["status"] = CensusStatus(values["status"])
        values["raw"] = dict(values.get("raw") or {})
        return cls(**values)


@dataclass(frozen=True)
class SourceProbe:
    """The drift canary's look at one census page (no consulta sent, no captcha solved)."""

    source: str
    url: str
    state: str  # "ok", "changed" (drift), "blocked", "unreachable"
    problems: list[str] = field(default_factory=list)
    site_key: str = ""
    submit: str = ""  # "control" (a submit control was found) or "page request"
    html: str = ""  # the page as loaded, size-capped, when it drifted

    @property
    def drifted(self) -> bool:
        return self.state == "changed"
