"""Who may open what: every URL pattern of the URLconf against five kinds of visitor.

The table below is the specification. `test_every_url_pattern_has_an_entry` walks the URLconf
(admin and i18n included) and fails when a pattern has no entry, or an entry no pattern: a new
URL must be given its expected access here before it ships.

Visitors: anonymous; the owner (user A, who owns a referral and an import batch); another user;
staff (is_staff, no model permissions: what an ops person gets); a superuser.

Cells:
  LOGIN        302 to the portal log-in with ?next=
  ADMIN_LOGIN  302 to the admin log-in with ?next=
  SEES         200 and the body shows A's data (cédula, name, municipio or file name)
  BLIND        200 and the body shows none of A's data
  OPEN         200 (admin pages and public pages: content not checked)
  Redirect(p)  302 to a location starting with p
  an int       that status code
"""

from dataclasses import dataclass, field

import pytest
from django.contrib import admin
from django.contrib.auth.models import Group, User
from django.contrib.contenttypes.models import ContentType
from django.test import Client, override_settings
from django.urls import URLResolver, get_resolver

from referrals import imports
from referrals.models import Referral, ScrapeAttempt

ROLES = ("anon", "owner", "other", "staff", "superuser")

CEDULA = "1020304050"
NAME = "Ana Marcador"
MUNICIPIO = "MUNIMARCADOR"
FILENAME = "lista-de-ana.csv"
A_MARKERS = (CEDULA, NAME, MUNICIPIO, FILENAME)


@dataclass(frozen=True)
class Redirect:
    prefix: str


LOGIN = Redirect("/cuenta/entrar/?next=")
ADMIN_LOGIN = Redirect("/admin/login/?next=")
SEES = "SEES"
BLIND = "BLIND"
OPEN = "OPEN"


@dataclass
class Route:
    url: object  # a str, or a function of the objects dict giving the concrete URL
    get: dict
    post: dict = field(default_factory=dict)


def cells(anon, owner, other, staff, superuser):
    return dict(zip(ROLES, (anon, owner, other, staff, superuser), strict=True))


def portal(owner, other=None, staff=None, superuser=None):
    """A page behind the portal log-in; staff and superusers are plain users there."""
    other = owner if other is None else other
    staff = other if staff is None else staff
    superuser = staff if superuser is None else superuser
    return cells(LOGIN, owner, other, staff, superuser)


def everyone(expect):
    return cells(expect, expect, expect, expect, expect)


# Admin pages for non-staff: the admin log-in, whoever they are.
def admin_only(staff, superuser):
    return cells(ADMIN_LOGIN, ADMIN_LOGIN, ADMIN_LOGIN, staff, superuser)


def admin_model(label, *, add=OPEN, delete=OPEN, change=OPEN):
    """The six URLs Django's ModelAdmin gives a model. Staff without permissions get 403 on
    every view of the model; the bare object URL only redirects to the change page."""
    app, model = label.split(".")
    base = f"admin/{app}/{model}/"

    def obj(suffix):
        return lambda o: f"/{base}{o[label].pk}/{suffix}"

    return {
        base: Route(f"/{base}", admin_only(403, OPEN)),
        f"{base}add/": Route(f"/{base}add/", admin_only(403, add)),
        f"{base}<path:object_id>/history/": Route(obj("history/"), admin_only(403, OPEN)),
        f"{base}<path:object_id>/delete/": Route(obj("delete/"), admin_only(403, delete)),
        f"{base}<path:object_id>/change/": Route(obj("change/"), admin_only(403, change)),
        f"{base}<path:object_id>/": Route(
            obj(""), admin_only(Redirect(f"/{base}"), Redirect(f"/{base}"))
        ),
    }


def referral_url(suffix=""):
    return lambda o: f"/referidos/{o['referrals.referral'].pk}/{suffix}"


def batch_url(suffix=""):
    return lambda o: f"/referidos/importar/{o['referrals.importbatch'].pk}/{suffix}"


TABLE: dict[str, Route] = {
    # --- open ----------------------------------------------------------------------------------
    "": Route("/", everyone(Redirect("/referidos/"))),
    "healthz": Route("/healthz", everyone(200)),
    "readyz": Route("/readyz", everyone(200)),
    # No beat and no worker run here: the pipeline check says so to everyone, logged in or not.
    "healthz/pipeline": Route("/healthz/pipeline", everyone(503)),
    "cuenta/registro/": Route(
        "/cuenta/registro/",
        # A logged-in visitor is sent to the list instead of a second account.
        cells(OPEN, *[Redirect("/referidos/")] * 4),
    ),
    "cuenta/entrar/": Route("/cuenta/entrar/", cells(OPEN, *[Redirect("/referidos/")] * 4)),
    "cuenta/salir/": Route(
        "/cuenta/salir/",
        get=everyone(405),  # log-out is a POST (with CSRF), never a link
        post=everyone(Redirect("/cuenta/entrar/")),
    ),
    "i18n/setlang/": Route(
        "/i18n/setlang/",
        get=everyone(Redirect("/")),  # only a POST changes the language
        post=everyone(Redirect("/")),
    ),
    # --- the portal: log-in required, own data only --------------------------------------------
    "referidos/": Route("/referidos/", portal(SEES, BLIND)),
    "referidos/nuevo/": Route("/referidos/nuevo/", portal(OPEN)),
    "referidos/exportar.csv": Route("/referidos/exportar.csv", portal(SEES, BLIND)),
    "referidos/por-puesto/": Route("/referidos/por-puesto/", portal(SEES, BLIND)),
    "referidos/importar/": Route("/referidos/importar/", portal(SEES, BLIND)),
    "referidos/<int:pk>/": Route(referral_url(), portal(SEES, 404)),
    "referidos/importar/<int:pk>/": Route(batch_url(), portal(SEES, 404)),
    "referidos/importar/<int:pk>/confirmar/": Route(
        batch_url("confirmar/"),
        get=portal(405),
        post=portal(Redirect("/referidos/importar/"), 404),
    ),
    "referidos/importar/<int:pk>/cancelar/": Route(
        batch_url("cancelar/"),
        get=portal(405),
        post=portal(Redirect("/referidos/importar/"), 404),
    ),
    "cuenta/clave/": Route("/cuenta/clave/", portal(OPEN)),
    "cuenta/clave/lista/": Route("/cuenta/clave/lista/", portal(OPEN)),
    # --- ops: staff only -----------------------------------------------------------------------
    "ops/": Route("/ops/", cells(LOGIN, 403, 403, OPEN, OPEN)),
    # --- admin: staff only; model pages need permissions -----------------------------------------
    "admin/": Route("/admin/", admin_only(OPEN, OPEN)),
    "admin/login/": Route(
        "/admin/login/",
        # A logged-in non-staff user sees the log-in form with "not authorised"; staff go in.
        cells(OPEN, OPEN, OPEN, Redirect("/admin/"), Redirect("/admin/")),
    ),
    "admin/logout/": Route(
        "/admin/logout/",
        get=cells(*[Redirect("/admin/")] * 3, 405, 405),
        post=cells(*[Redirect("/admin/")] * 3, *[Redirect("/cuenta/entrar/")] * 2),
    ),
    "admin/password_change/": Route("/admin/password_change/", admin_only(OPEN, OPEN)),
    "admin/password_change/done/": Route("/admin/password_change/done/", admin_only(OPEN, OPEN)),
    "admin/autocomplete/": Route("/admin/autocomplete/", admin_only(403, 403)),
    "admin/jsi18n/": Route("/admin/jsi18n/", admin_only(OPEN, OPEN)),
    "admin/r/<path:content_type_id>/<path:object_id>/": Route(
        lambda o: (
            f"/admin/r/{ContentType.objects.get_for_model(Referral).pk}"
            f"/{o['referrals.referral'].pk}/"
        ),
        # The "view on site" shortcut leads to the portal page, where ownership applies.
        admin_only(*[Redirect("http://testserver/referidos/")] * 2),
    ),
    "admin/^(?P<app_label>auth|django_celery_results|referrals|axes)/$": Route(
        "/admin/referrals/", admin_only(404, OPEN)
    ),
    "admin/(?P<url>.*)$": Route("/admin/no-existe/", admin_only(404, 404)),
    "admin/auth/user/<id>/password/": Route(
        lambda o: f"/admin/auth/user/{o['auth.user'].pk}/password/", admin_only(403, OPEN)
    ),
    **admin_model("auth.group"),
    **admin_model("auth.user"),
    **admin_model("django_celery_results.taskresult"),
    **admin_model("django_celery_results.groupresult"),
    **admin_model("referrals.referral"),
    **admin_model("referrals.scrapeattempt"),
    **admin_model("referrals.importbatch"),
    # axes' records are written by axes only: no adding or editing by hand.
    **admin_model("axes.accessattempt", add=403),
    **admin_model("axes.accesslog", add=403),
    **admin_model("axes.accessfailurelog", add=403),
}


def url_patterns(patterns=None, prefix=""):
    """Every URL pattern of the URLconf as one string, includes resolved."""
    if patterns is None:
        patterns = get_resolver().url_patterns
    for pattern in patterns:
        if isinstance(pattern, URLResolver):
            yield from url_patterns(pattern.url_patterns, prefix + str(pattern.pattern))
        else:
            yield prefix + str(pattern.pattern)


def test_every_url_pattern_has_an_entry():
    found = list(url_patterns())
    assert len(found) == len(set(found)), "two URL patterns with the same route"
    missing = sorted(set(found) - set(TABLE))
    stale = sorted(set(TABLE) - set(found))
    assert not missing, f"URL patterns without an expected access in TABLE: {missing}"
    assert not stale, f"TABLE entries for URL patterns that no longer exist: {stale}"


def test_every_admin_model_is_in_the_table():
    for model in admin.site._registry:
        assert f"admin/{model._meta.app_label}/{model._meta.model_name}/" in TABLE


CASES = [
    pytest.param(key, method, role, id=f"{method}:{key or '/'}:{role}")
    for key, route in TABLE.items()
    for method, expected in (("GET", route.get), ("POST", route.post))
    if expected
    for role in ROLES
]


@pytest.fixture(scope="module")
def world(django_db_setup, django_db_blocker):
    """The visitors and A's objects, created once for the module's ~500 cases (each case runs
    in a transaction that is rolled back, so a POST case cannot leak into the next one)."""
    from axes.models import AccessAttempt, AccessFailureLog, AccessLog
    from django_celery_results.models import GroupResult, TaskResult

    fast = override_settings(PASSWORD_HASHERS=["django.contrib.auth.hashers.MD5PasswordHasher"])
    with django_db_blocker.unblock(), fast:
        make = User.objects.create_user
        users = {
            "owner": make("ana", "ana@example.com", "clave-segura-123"),
            "other": make("beto", "beto@example.com", "clave-segura-456"),
            "staff": make("ops", "ops@example.com", "clave-segura-789", is_staff=True),
            "superuser": User.objects.create_superuser("root", "root@example.com", "clave-0"),
        }
        user = users["owner"]
        batch = imports.prepare_import(
            user=user, data=b"cedula;nombre\n52123456;Ana Dos\n", filename=FILENAME
        )
        referral = Referral.objects.create(
            cedula=CEDULA, full_name=NAME, referred_by=user, municipio=MUNICIPIO, status="verified"
        )
        access = {"user_agent": "test", "ip_address": "10.0.0.1", "username": "ana"}
        access.update(http_accept="text/html", path_info="/cuenta/entrar/")
        objects = {
            "auth.user": user,
            "auth.group": Group.objects.create(name="coordinadores"),
            "referrals.referral": referral,
            "referrals.importbatch": batch,
            "referrals.scrapeattempt": ScrapeAttempt.objects.create(referral=referral),
            "django_celery_results.taskresult": TaskResult.objects.create(task_id="t-1"),
            "django_celery_results.groupresult": GroupResult.objects.create(group_id="g-1"),
            "axes.accessattempt": AccessAttempt.objects.create(
                **access, get_data="", post_data="", failures_since_start=1
            ),
            "axes.accesslog": AccessLog.objects.create(**access),
            "axes.accessfailurelog": AccessFailureLog.objects.create(**access, locked_out=False),
        }
    yield objects, users
    with django_db_blocker.unblock():
        for label in ("referrals.scrapeattempt", "referrals.referral", "referrals.importbatch"):
            objects[label].delete()
        for label, obj in objects.items():
            if not label.startswith("referrals.") and label != "auth.user":
                obj.delete()
        User.objects.filter(pk__in=[u.pk for u in users.values()]).delete()


def body_of(response) -> str:
    if response.streaming:
        return b"".join(response.streaming_content).decode("utf-8", "replace")
    return response.content.decode("utf-8", "replace")


def check(response, expected, where):
    status = response.status_code
    if isinstance(expected, Redirect):
        assert status == 302, f"{where}: {status}, expected a redirect to {expected.prefix}"
        assert response["Location"].startswith(expected.prefix), (
            f"{where}: redirected to {response['Location']}, expected {expected.prefix}"
        )
    elif expected in (SEES, BLIND, OPEN):
        assert status == 200, f"{where}: {status}, expected 200"
        body = body_of(response)
        shown = [m for m in A_MARKERS if m in body]
        if expected == SEES:
            assert shown, f"{where}: the owner's data is not on the page"
        elif expected == BLIND:
            assert not shown, f"{where}: another user's data is shown: {shown}"
    else:
        assert status == expected, f"{where}: {status}, expected {expected}"


@pytest.mark.parametrize(("key", "method", "role"), CASES)
def test_access(world, db, key, method, role):
    objects, users = world
    route = TABLE[key]
    url = route.url(objects) if callable(route.url) else route.url
    client = Client()
    if role != "anon":
        client.force_login(users[role])
    response = client.get(url) if method == "GET" else client.post(url)
    expected = (route.get if method == "GET" else route.post)[role]
    check(response, expected, f"{method} {url} as {role}")
