"""The figures of the campaign dashboard, for whoever asks, within what they may see: counts
by status, by leader (with goals: the ranking), by municipio, by puesto and mesa, teams against
their goals, and the two charts' geometry (drawn server-side as SVG: no JS framework)."""

from dataclasses import dataclass
from datetime import timedelta

from django.db.models import Count, Q
from django.db.models.functions import TruncDate
from django.utils import timezone

from campaigns import selectors as people
from campaigns.models import Membership, Role

from . import selectors
from .explanations import DELAYED, DELAYED_LABEL
from .models import Status

CHART_DAYS = 14
TOP_PLACES = 30
TOP_MUNICIPIOS = 10


@dataclass(frozen=True)
class Progress:
    done: int
    goal: int

    @property
    def percent(self) -> int | None:
        return None if not self.goal else min(100, round(self.done * 100 / self.goal))


VERIFIED = Count("pk", filter=Q(status=Status.VERIFIED))


def leader_progress(user) -> Progress:
    """A leader's verified referrals against their goal."""
    membership = people.membership_of(user)
    done = selectors.visible_referrals(user).filter(referred_by=user, status=Status.VERIFIED)
    return Progress(done=done.count(), goal=membership.goal if membership else 0)


def figures(user) -> dict:
    referrals = selectors.visible_referrals(user)
    counts = dict(referrals.order_by().values_list("status").annotate(n=Count("pk")))
    by_status = [(value, label, counts.get(value, 0)) for value, label in Status.choices]
    delayed = referrals.filter(status__in=Status.in_flight(), stale_flagged_at__isnull=False)
    total = sum(counts.values())
    verified = counts.get(Status.VERIFIED, 0)
    return {
        "total": total,
        "verified": verified,
        "in_flight": sum(counts.get(s, 0) for s in Status.in_flight()),
        "by_status": by_status,
        "needs_action": [
            (Status.FAILED, Status.FAILED.label, counts.get(Status.FAILED, 0)),
            (Status.BLOCKED, Status.BLOCKED.label, counts.get(Status.BLOCKED, 0)),
            (DELAYED, DELAYED_LABEL, delayed.count()),
        ],
        "ranking": ranking(user, referrals),
        "teams": team_progress(user),
        "municipios": municipio_bars(referrals),
        "places": list(
            referrals.exclude(puesto="")
            .order_by()
            .values("municipio", "puesto", "mesa")
            .annotate(total=Count("pk"), verified=VERIFIED)
            .order_by("-total", "municipio", "puesto", "mesa")[:TOP_PLACES]
        ),
        "per_day": verified_per_day(referrals),
    }


def ranking(user, referrals) -> list[dict]:
    """Every person in scope who refers (leaders, coordinators with their own referrals), most
    verified first, with their goal; leaders without referrals yet are listed with zeros."""
    rows = {
        row["referred_by"]: row
        for row in referrals.order_by()
        .values("referred_by", "referred_by__username")
        .annotate(
            total=Count("pk"),
            verified=VERIFIED,
            in_flight=Count("pk", filter=Q(status__in=Status.in_flight())),
            failed=Count("pk", filter=Q(status__in=[Status.FAILED, Status.BLOCKED])),
        )
    }
    scope = people.visible_people(user)
    members = Membership.objects.select_related("user", "team").filter(role=Role.LEADER)
    if scope is not None:
        members = members.filter(user_id__in=scope)
    goals = {}
    for m in members:
        goals[m.user_id] = (m.goal, m.team.name if m.team else "")
        rows.setdefault(
            m.user_id,
            {"referred_by": m.user_id, "referred_by__username": m.user.username}
            | dict.fromkeys(("total", "verified", "in_flight", "failed"), 0),
        )
    extra = Membership.objects.filter(user_id__in=set(rows) - set(goals)).select_related("team")
    goals.update({m.user_id: (m.goal, m.team.name if m.team else "") for m in extra})
    result = []
    for user_id, row in rows.items():
        goal, team = goals.get(user_id, (0, ""))
        result.append(
            {
                "id": user_id,
                "username": row["referred_by__username"],
                "team": team,
                "total": row["total"],
                "verified": row["verified"],
                "in_flight": row["in_flight"],
                "failed": row["failed"],
                "progress": Progress(row["verified"], goal),
            }
        )
    result.sort(key=lambda r: (-r["verified"], -r["total"], r["username"]))
    return result


def team_progress(user) -> list[dict]:
    teams = []
    for team in people.visible_teams(user).select_related("coordinator"):
        members = Membership.objects.filter(team=team).values("user")
        verified = selectors.visible_referrals(user).filter(
            Q(referred_by__in=members) | Q(referred_by=team.coordinator_id),
            status=Status.VERIFIED,
        )
        teams.append({"team": team, "progress": Progress(verified.count(), team.goal)})
    return teams


def municipio_bars(referrals, width: int = 300, row: int = 22) -> list[dict]:
    """Horizontal bars, one per municipio (the largest ones), verified over total."""
    rows = list(
        referrals.exclude(municipio="")
        .order_by()
        .values("municipio")
        .annotate(total=Count("pk"), verified=VERIFIED)
        .order_by("-total", "municipio")[:TOP_MUNICIPIOS]
    )
    top = max([r["total"] for r in rows] + [1])
    return [
        r
        | {
            "y": i * row,
            "text_y": i * row + 15,
            "w": max(1, round(r["total"] / top * width)),
            "vw": round(r["verified"] / top * width),
        }
        for i, r in enumerate(rows)
    ]


def verified_per_day(referrals, height: int = 100, width: int = 30) -> dict:
    """Vertical bars: referrals verified on each of the last CHART_DAYS days (Bogotá dates)."""
    today = timezone.localdate()
    first = today - timedelta(days=CHART_DAYS - 1)
    start = timezone.make_aware(timezone.datetime.combine(first, timezone.datetime.min.time()))
    counts = dict(
        referrals.filter(status=Status.VERIFIED, finished_at__gte=start)
        .annotate(day=TruncDate("finished_at", tzinfo=timezone.get_current_timezone()))
        .order_by()
        .values_list("day")
        .annotate(n=Count("pk"))
    )
    days = [first + timedelta(days=i) for i in range(CHART_DAYS)]
    top = max([*counts.values(), 1])
    bars = []
    for i, day in enumerate(days):
        n = counts.get(day, 0)
        h = round(n / top * height)
        bars.append({"day": day, "n": n, "x": i * width, "y": height - h, "h": h})
    return {"bars": bars, "width": CHART_DAYS * width, "total": sum(counts.values())}
