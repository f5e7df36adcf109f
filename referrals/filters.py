"""Narrowing the referral list: by status, leader, municipio, puesto, mesa and a search box,
plus the "por puesto" summary. Every function takes a queryset already scoped by
referrals.selectors; none widens it (a leader id outside the scope simply matches nothing)."""

from dataclasses import dataclass

from django.db.models import Count, Q, QuerySet

from scraping.cedula import strip_separators

from .explanations import DELAYED, DELAYED_LABEL
from .folding import Folded, fold
from .models import Status

MAX_QUERY_CHARS = 100


@dataclass(frozen=True)
class ReferralFilters:
    status: str = ""
    municipio: str = ""
    puesto: str = ""
    mesa: str = ""
    leader: str = ""
    q: str = ""

    @classmethod
    def from_params(cls, params) -> "ReferralFilters":
        """From a QueryDict; unknown statuses are dropped, texts are bounded."""
        status = params.get("status", "")
        if status not in Status.values and status != DELAYED:
            status = ""
        return cls(
            status=status,
            municipio=_text(params, "municipio")[:100],
            puesto=_text(params, "puesto")[:200],
            mesa=_text(params, "mesa")[:20],
            leader=_digits(_text(params, "leader")[:12]),
            q=" ".join(_text(params, "q").split())[:MAX_QUERY_CHARS],
        )

    @property
    def active(self) -> bool:
        return bool(
            self.status or self.municipio or self.puesto or self.mesa or self.leader or self.q
        )

    def as_query(self) -> dict[str, str]:
        """The non-empty filters, for links that must keep them (pages, export)."""
        return {k: v for k, v in vars(self).items() if v}


def _text(params, name: str) -> str:
    """A query-string value without NUL characters: no stored text has one (the forms refuse
    them), and PostgreSQL refuses a query that carries one (a server error, not "no match")."""
    return params.get(name, "").replace("\x00", "")


def _digits(text: str) -> str:
    return text if text.isascii() and text.isdigit() else ""


def apply_filters(referrals: QuerySet, filters: ReferralFilters) -> QuerySet:
    if filters.status == DELAYED:
        referrals = referrals.filter(status__in=Status.in_flight(), stale_flagged_at__isnull=False)
    elif filters.status:
        referrals = referrals.filter(status=filters.status)
    if filters.municipio:
        referrals = referrals.filter(municipio=filters.municipio)
    if filters.puesto:
        referrals = referrals.filter(puesto=filters.puesto)
    if filters.mesa:
        referrals = referrals.filter(mesa=filters.mesa)
    if filters.leader:
        referrals = referrals.filter(referred_by_id=int(filters.leader))
    if filters.q:
        # A number, however it is typed (1.020.304), searches cédulas by their beginning;
        # anything else searches names.
        digits = strip_separators(filters.q)
        if digits.isascii() and digits.isdigit():
            referrals = referrals.filter(cedula__startswith=digits)
        else:
            # Accents and case ignored: "munoz" finds "Muñoz".
            referrals = referrals.annotate(name_folded=Folded("full_name")).filter(
                name_folded__contains=fold(filters.q)
            )
    return referrals


def filter_choices(referrals: QuerySet, filters: ReferralFilters | None = None) -> dict:
    """Options for the selects, from the user's own data only; with a municipio chosen, the
    puestos are that municipio's."""
    statuses = [(value, label) for value, label in Status.choices]
    statuses.append((DELAYED, DELAYED_LABEL))
    places = (
        referrals.filter(municipio=filters.municipio)
        if filters and filters.municipio
        else referrals
    )
    return {
        "statuses": statuses,
        "municipios": _distinct(referrals, "municipio"),
        "puestos": _distinct(places, "puesto"),
    }


def _distinct(referrals: QuerySet, field: str) -> list[str]:
    return list(
        referrals.exclude(**{field: ""}).order_by(field).values_list(field, flat=True).distinct()
    )


def count_by_place(referrals: QuerySet) -> list[dict]:
    """Referrals per departamento / municipio / puesto, with how many are verified; the ones
    without a place yet (in flight, not found...) are one group with empty names."""
    return list(
        referrals.order_by()
        .values("departamento", "municipio", "puesto")
        .annotate(total=Count("pk"), verified=Count("pk", filter=Q(status=Status.VERIFIED)))
        .order_by("departamento", "municipio", "puesto")
    )
