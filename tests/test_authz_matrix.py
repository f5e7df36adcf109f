"""Who may open what: every URL pattern of the URLconf against every role of the campaign.

The table below is the specification. `test_every_url_pattern_has_an_entry` walks the URLconf
(admin and i18n included) and fails when a pattern has no entry, or an entry no pattern: a new
URL must be given its expected access here before it ships.

Visitors (tests/campaign.py builds them): anonymous; the owner (leader A of team Norte, who owns a
referral, an import batch and a self-registration link); a teammate (another leader of Norte);
an outsider (a leader of team Sur); Norte's coordinator (who also made an invitation);
Sur's coordinator; the manager; a viewer of Norte; a viewer of the whole campaign; staff
(is_staff, no model permissions, no campaign role: what an ops person gets); a superuser.

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
from datetime import timedelta

import pytest
from django.conf import settings
from django.contrib import admin
from django.contrib.auth.models import Group, User
from django.contrib.contenttypes.models import ContentType
from django.contrib.sessions.models import Session
from django.test import Client
from django.urls import URLResolver, get_resolver

from api import services as api_services
from campaigns import services as campaign_services
from campaigns.models import Invitation, Membership, Team
from ops.models import Alert, CensusPageSnapshot
from privacy.models import AuditEntry, PolicyAcceptance, PolicyVersion
from referrals import imports
from referrals.models import CutoverRecord, DuplicateClaim, Referral, ScrapeAttempt
from tests.campaign import build_campaign
from webhooks import services as webhook_services
from webhooks.models import WebhookAttempt, WebhookDelivery

ROLES = (
    "anon",
    "owner",
    "teammate",
    "outsider",
    "coordinator",
    "coordinator2",
    "manager",
    "viewer",
    "viewer_all",
    "staff",
    "superuser",
)
USERS = ROLES[1:]

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


def cells(anon, users, **by_role):
    """`anon` for the anonymous visitor, `users` for every logged-in role but those named."""
    unknown = set(by_role) - set(USERS)
    assert not unknown, unknown
    return {"anon": anon, **dict.fromkeys(USERS, users), **by_role}


def portal(owner, other=None, *, boss=None, viewer=None, viewer_all=None):
    """A page behind the portal log-in. `owner`: A; `boss`: A's coordinator and the manager
    (default: as A); `other`: every other leader-like user — teammate, outsider, the other
    team's coordinator, staff and superusers, who are plain leaders there (default: as A);
    `viewer` / `viewer_all`: the viewer of A's team / of the whole campaign (default: as
    other / as viewer)."""
    other = owner if other is None else other
    boss = owner if boss is None else boss
    viewer = other if viewer is None else viewer
    viewer_all = viewer if viewer_all is None else viewer_all
    return cells(
        LOGIN,
        other,
        owner=owner,
        coordinator=boss,
        manager=boss,
        viewer=viewer,
        viewer_all=viewer_all,
    )


def managers(cell, other):
    """Pages of the people who run teams: both coordinators and the manager get `cell`."""
    return cells(LOGIN, other, coordinator=cell, coordinator2=cell, manager=cell)


def a_team_of_a(cell, other):
    """Objects of A's team (its invitation, A's membership, the team): its coordinator and
    the manager get `cell`, every other logged-in user `other`."""
    return cells(LOGIN, other, coordinator=cell, manager=cell)


def everyone(expect):
    return cells(expect, expect)


# Admin pages for non-staff: the admin log-in, whoever they are.
def admin_only(staff, superuser):
    return cells(ADMIN_LOGIN, ADMIN_LOGIN, staff=staff, superuser=superuser)


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
        cells(OPEN, Redirect("/referidos/")),
    ),
    "cuenta/entrar/": Route("/cuenta/entrar/", cells(OPEN, Redirect("/referidos/"))),
    # An invitation link: a sign-up form for visitors (an empty POST: the form again).
    "cuenta/invitacion/<str:token>/": Route(
        lambda o: f"/cuenta/invitacion/{o['campaigns.invitation'].token}/",
        get=cells(OPEN, Redirect("/referidos/")),
        post=cells(OPEN, Redirect("/referidos/")),
    ),
    # A leader's self-registration link: public, shows nothing of the leader's referrals.
    "r/<str:code>/": Route(
        lambda o: f"/r/{o['campaigns.membership'].signup_code}/",
        get=everyone(OPEN),
        post=everyone(OPEN),
    ),
    # Password reset by e-mail: open (a link in a mail), never leaking who has an account.
    "cuenta/clave/olvidada/": Route("/cuenta/clave/olvidada/", everyone(OPEN)),
    "cuenta/clave/olvidada/enviada/": Route("/cuenta/clave/olvidada/enviada/", everyone(OPEN)),
    "cuenta/clave/nueva/<uidb64>/<token>/": Route(
        "/cuenta/clave/nueva/MQ/bad-token/", everyone(OPEN)
    ),
    "cuenta/clave/nueva/lista/": Route("/cuenta/clave/nueva/lista/", everyone(OPEN)),
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
    # --- the portal: log-in required, each role's scope only ---------------------------------
    # Viewers read counts (panel, por puesto), never rows; their list sends them to the panel.
    "referidos/": Route("/referidos/", portal(SEES, BLIND, viewer=Redirect("/referidos/panel/"))),
    "referidos/nuevo/": Route("/referidos/nuevo/", portal(OPEN, viewer=403)),
    "referidos/exportar.csv": Route("/referidos/exportar.csv", portal(SEES, BLIND, viewer=403)),
    "referidos/por-puesto/": Route("/referidos/por-puesto/", portal(SEES, BLIND, viewer=SEES)),
    "referidos/panel/": Route("/referidos/panel/", portal(SEES, BLIND, viewer=SEES)),
    # The upload page lists one's own batches only (a coordinator opens A's from the link).
    "referidos/importar/": Route(
        "/referidos/importar/", portal(SEES, BLIND, boss=BLIND, viewer=403)
    ),
    "referidos/<int:pk>/": Route(referral_url(), portal(SEES, 404, viewer=403)),
    "referidos/importar/<int:pk>/": Route(batch_url(), portal(SEES, 404)),
    # Confirming or cancelling a batch is the uploader's alone.
    "referidos/importar/<int:pk>/confirmar/": Route(
        batch_url("confirmar/"),
        get=portal(405),
        post=portal(Redirect("/referidos/importar/"), 404, boss=404),
    ),
    "referidos/importar/<int:pk>/cancelar/": Route(
        batch_url("cancelar/"),
        get=portal(405),
        post=portal(Redirect("/referidos/importar/"), 404, boss=404),
    ),
    # Re-verify (nothing eligible here: A's referral is freshly verified): viewers may not.
    "referidos/verificar-de-nuevo/": Route(
        "/referidos/verificar-de-nuevo/",
        get=portal(405),
        post=portal(Redirect("/referidos/"), viewer=403),
    ),
    "referidos/mi-enlace/": Route("/referidos/mi-enlace/", portal(OPEN, viewer=403)),
    "referidos/mi-enlace/qr.svg": Route("/referidos/mi-enlace/qr.svg", portal(OPEN, viewer=403)),
    # A referral typed by mistake: removed by whoever typed it, or by the manager (a request).
    "referidos/<int:pk>/borrar/": Route(
        referral_url("borrar/"),
        get=portal(405),
        post=cells(
            LOGIN,
            404,
            owner=Redirect("/referidos/"),
            manager=Redirect("/referidos/"),
            coordinator=403,  # sees it, did not type it
            viewer=403,
            viewer_all=403,
        ),
    ),
    # Duplicate claims: the owning team's coordinator and the manager resolve them.
    "referidos/repetidas/": Route("/referidos/repetidas/", managers(OPEN, 403)),
    "referidos/repetidas/<int:pk>/resolver/": Route(
        lambda o: f"/referidos/repetidas/{o['referrals.duplicateclaim'].pk}/resolver/",
        get=cells(LOGIN, 405),
        post=a_team_of_a(Redirect("/referidos/repetidas/"), 404),
    ),
    # --- personal data: the public notice and policy, accepting them, the audit log (managers and
    # staff), a data subject's requests (managers only; the cédula in the POST body) ------------
    "privacidad/": Route("/privacidad/", everyone(OPEN)),
    "privacidad/politica/": Route("/privacidad/politica/", everyone(OPEN)),
    "privacidad/aceptar/": Route(
        "/privacidad/aceptar/", get=cells(LOGIN, OPEN), post=cells(LOGIN, OPEN)
    ),
    "privacidad/auditoria/": Route(
        "/privacidad/auditoria/", cells(LOGIN, 403, manager=OPEN, staff=OPEN, superuser=OPEN)
    ),
    "privacidad/auditoria.csv": Route(
        "/privacidad/auditoria.csv", cells(LOGIN, 403, manager=OPEN, staff=OPEN, superuser=OPEN)
    ),
    "privacidad/titulares/": Route(
        "/privacidad/titulares/",
        get=cells(LOGIN, 403, manager=OPEN),
        post=cells(LOGIN, 403, manager=OPEN),  # no cédula: the form again, with its error
    ),
    "privacidad/titulares/archivo/": Route(
        "/privacidad/titulares/archivo/",
        get=cells(LOGIN, 405),
        post=cells(LOGIN, 403, manager=400),
    ),
    "privacidad/titulares/corregir/": Route(
        "/privacidad/titulares/corregir/",
        get=cells(LOGIN, 405),
        post=cells(LOGIN, 403, manager=400),
    ),
    "privacidad/titulares/borrar/": Route(
        "/privacidad/titulares/borrar/",
        get=cells(LOGIN, 405),
        post=cells(LOGIN, 403, manager=400),
    ),
    # --- the team page: managers and coordinators, each over their own teams -------------------
    "equipo/": Route("/equipo/", managers(OPEN, 403)),
    "equipo/invitaciones/": Route(
        "/equipo/invitaciones/",
        get=managers(405, 405),
        post=managers(OPEN, 403),  # an empty form: the page again, with its errors
    ),
    "equipo/invitaciones/<int:pk>/revocar/": Route(
        lambda o: f"/equipo/invitaciones/{o['campaigns.invitation'].pk}/revocar/",
        get=a_team_of_a(405, 405),
        post=a_team_of_a(Redirect("/equipo/"), 404),
    ),
    "equipo/miembros/<int:pk>/": Route(
        lambda o: f"/equipo/miembros/{o['campaigns.membership'].pk}/",
        get=a_team_of_a(405, 405),
        post=a_team_of_a(Redirect("/equipo/"), 404),
    ),
    "equipo/equipos/<int:pk>/meta/": Route(
        lambda o: f"/equipo/equipos/{o['campaigns.team'].pk}/meta/",
        get=a_team_of_a(405, 405),
        post=a_team_of_a(Redirect("/equipo/"), 404),
    ),
    # Integrations belong to the person: nobody else, boss or not, reaches A's token or hook.
    "integraciones/": Route("/integraciones/", portal(OPEN)),
    "integraciones/tokens/": Route("/integraciones/tokens/", get=portal(405), post=portal(400)),
    "integraciones/tokens/<int:pk>/revocar/": Route(
        lambda o: f"/integraciones/tokens/{o['api.apitoken'].pk}/revocar/",
        get=portal(405),
        post=portal(Redirect("/integraciones/"), 404, boss=404),
    ),
    "integraciones/webhooks/": Route("/integraciones/webhooks/", get=portal(405), post=portal(400)),
    "integraciones/webhooks/<int:pk>/activar/": Route(
        lambda o: f"/integraciones/webhooks/{o['webhooks.webhookendpoint'].pk}/activar/",
        get=portal(405),
        post=portal(Redirect("/integraciones/"), 404, boss=404),
    ),
    "integraciones/webhooks/<int:pk>/borrar/": Route(
        lambda o: f"/integraciones/webhooks/{o['webhooks.webhookendpoint'].pk}/borrar/",
        get=portal(405),
        post=portal(Redirect("/integraciones/"), 404, boss=404),
    ),
    # --- the API: a token only (tests/test_api.py); a portal session is no API credential ---------
    "api/v1/referrals/": Route("/api/v1/referrals/", get=everyone(401), post=everyone(401)),
    "api/v1/referrals/batch/": Route(
        "/api/v1/referrals/batch/", get=everyone(401), post=everyone(401)
    ),
    "api/v1/referrals/counts/": Route("/api/v1/referrals/counts/", everyone(401)),
    "api/v1/referrals/<int:pk>/": Route(
        lambda o: f"/api/v1/referrals/{o['referrals.referral'].pk}/", everyone(401)
    ),
    "api/v1/referrals/<int:pk>/reverify/": Route(
        lambda o: f"/api/v1/referrals/{o['referrals.referral'].pk}/reverify/",
        get=everyone(401),
        post=everyone(401),
    ),
    # The schema and its docs describe the API and hold no data.
    "api/v1/schema/": Route("/api/v1/schema/", everyone(200)),
    "api/v1/docs/": Route("/api/v1/docs/", everyone(200)),
    # Prometheus: a bearer METRICS_TOKEN only; unset (as here) it is not served at all.
    "metrics": Route("/metrics", everyone(404)),
    "cuenta/clave/": Route("/cuenta/clave/", portal(OPEN)),
    "cuenta/clave/lista/": Route("/cuenta/clave/lista/", portal(OPEN)),
    # --- ops: staff only -----------------------------------------------------------------------
    "ops/": Route("/ops/", cells(LOGIN, 403, staff=OPEN, superuser=OPEN)),
    "ops/circuito/probar/": Route(
        "/ops/circuito/probar/",
        get=cells(LOGIN, 405),
        post=cells(LOGIN, 403, staff=Redirect("/ops/"), superuser=Redirect("/ops/")),
    ),
    # --- admin: staff only; model pages need permissions -----------------------------------------
    "admin/": Route("/admin/", admin_only(OPEN, OPEN)),
    "admin/login/": Route(
        "/admin/login/",
        # A logged-in non-staff user sees the log-in form with "not authorised"; staff go in.
        cells(OPEN, OPEN, staff=Redirect("/admin/"), superuser=Redirect("/admin/")),
    ),
    "admin/logout/": Route(
        "/admin/logout/",
        get=cells(Redirect("/admin/"), Redirect("/admin/"), staff=405, superuser=405),
        post=cells(
            Redirect("/admin/"),
            Redirect("/admin/"),
            staff=Redirect("/cuenta/entrar/"),
            superuser=Redirect("/cuenta/entrar/"),
        ),
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
    (
        "admin/^(?P<app_label>auth|django_celery_results|privacy|campaigns|referrals|webhooks|ops|axes)/$"
    ): Route("/admin/referrals/", admin_only(404, OPEN)),
    "admin/(?P<url>.*)$": Route("/admin/no-existe/", admin_only(404, 404)),
    "admin/auth/user/<id>/password/": Route(
        lambda o: f"/admin/auth/user/{o['auth.user'].pk}/password/", admin_only(403, OPEN)
    ),
    **admin_model("auth.group"),
    **admin_model("campaigns.team"),
    **admin_model("campaigns.membership"),
    **admin_model("campaigns.invitation"),
    **admin_model("auth.user"),
    **admin_model("django_celery_results.taskresult"),
    **admin_model("django_celery_results.groupresult"),
    # Referrals come in through the portal (their verification is published); never added
    # by hand in the admin, where the pipeline's fields are read-only.
    **admin_model("referrals.referral", add=403),
    **admin_model("referrals.scrapeattempt"),
    **admin_model("referrals.importbatch"),
    # Alerts are raised by the product only: the admin reads them and marks them resolved.
    **admin_model("ops.alert", add=403),
    # Pages the drift canary saved: read-only (the canary writes them; staff may delete).
    **admin_model("ops.censuspagesnapshot", add=403),
    **admin_model("webhooks.webhookendpoint"),
    **admin_model("webhooks.webhookdelivery", add=403),
    **admin_model("webhooks.webhookattempt", add=403),
    # What the cut-over carried over: read-only (a deleted record would import its row again).
    **admin_model("referrals.cutoverrecord", add=403, delete=403),
    # Published policy versions are read-only (people accepted that text), never deleted;
    # acceptances and the audit log are written by the product only.
    **admin_model("privacy.policyversion", delete=403),
    **admin_model("privacy.policyacceptance", add=403, delete=403),
    **admin_model("privacy.auditentry", add=403, delete=403),
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

    with django_db_blocker.unblock():
        make = User.objects.create_user
        campaign = build_campaign()
        users = {
            **campaign["people"],
            "staff": make("ops", "ops@example.com", "clave-segura-789", is_staff=True),
            "superuser": User.objects.create_superuser("root", "root@example.com", "clave-0"),
        }
        user = users["owner"]
        invitation = campaign_services.create_invitation(
            actor=users["coordinator"],
            role="leader",
            team=campaign["north"],
            expires_in=timedelta(days=1),
            max_uses=5,
        )
        batch = imports.prepare_import(
            user=user, data=b"cedula;nombre\n52123456;Ana Dos\n", filename=FILENAME
        )
        referral = Referral.objects.create(
            cedula=CEDULA, full_name=NAME, referred_by=user, municipio=MUNICIPIO, status="verified"
        )
        token, _ = api_services.create_token(user=user, name="CRM")
        endpoint, _ = webhook_services.register_endpoint(
            owner=user, url="http://127.0.0.1:9/hook", events=["referral.finished"]
        )
        delivery = WebhookDelivery.objects.create(
            endpoint=endpoint, event_id="msg_authz", event_type="referral.finished", payload={}
        )
        access = {"user_agent": "test", "ip_address": "10.0.0.1", "username": "ana"}
        access.update(http_accept="text/html", path_info="/cuenta/entrar/")
        objects = {
            "auth.user": user,
            "auth.group": Group.objects.create(name="coordinadores"),
            "campaigns.team": campaign["north"],
            "campaigns.membership": user.membership,
            "campaigns.invitation": invitation,
            "referrals.referral": referral,
            "referrals.importbatch": batch,
            "referrals.scrapeattempt": ScrapeAttempt.objects.create(referral=referral),
            "referrals.duplicateclaim": DuplicateClaim.objects.create(
                referral=referral, claimant=users["outsider"], source="form"
            ),
            "privacy.policyversion": PolicyVersion.objects.create(
                version=settings.DATA_POLICY_VERSION, controller="Campaña", contact="x@example.com"
            ),
            "privacy.policyacceptance": PolicyAcceptance.objects.create(
                user=users["teammate"], version=settings.DATA_POLICY_VERSION
            ),
            "privacy.auditentry": AuditEntry.objects.create(action="login", actor_name="ana"),
            "ops.alert": Alert.objects.create(key="circuit-open", title="t", body="b"),
            "ops.censuspagesnapshot": CensusPageSnapshot.objects.create(
                source="wsp", url="https://wsp.example/", problems="p", html="<html></html>"
            ),
            "api.apitoken": token,
            "webhooks.webhookendpoint": endpoint,
            "webhooks.webhookdelivery": delivery,
            "webhooks.webhookattempt": WebhookAttempt.objects.create(delivery=delivery, number=1),
            "referrals.cutoverrecord": CutoverRecord.objects.create(
                source="django-q2", kind="referral", source_key="1", target_id=referral.pk
            ),
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
        objects["webhooks.webhookendpoint"].delete()  # its deliveries and attempts with it
        objects["api.apitoken"].delete()
        for label in (
            "referrals.duplicateclaim",
            "privacy.policyacceptance",
            "referrals.cutoverrecord",
            "referrals.scrapeattempt",
            "referrals.referral",
            "referrals.importbatch",
        ):
            objects[label].delete()
        for label, obj in objects.items():
            if (
                label.split(".")[0]
                not in ("referrals", "campaigns", "auth", "webhooks", "api", "privacy")
                or label == "auth.group"
            ):
                obj.delete()
        objects["privacy.policyversion"].delete()
        # The audit log refuses deletes through the ORM: the test's own entry goes by raw SQL.
        AuditEntry.objects.filter(pk=objects["privacy.auditentry"].pk)._raw_delete("default")
        Invitation.objects.all().delete()
        Membership.objects.all().delete()
        Team.objects.all().delete()
        User.objects.filter(pk__in=[u.pk for u in users.values()]).delete()


@pytest.fixture(scope="module")
def sessions(world, django_db_blocker):
    """One log-in per visitor for the whole module, its session cookie reused by every case:
    a log-in per case (force_login: a session, the audit entry, the log-in time) was a quarter
    of the module's CPU. A case's own session changes (a log-out) are rolled back with it."""
    _, users = world

    def logged_in(user) -> str:
        client = Client()
        client.force_login(user)
        return client.cookies[settings.SESSION_COOKIE_NAME].value

    with django_db_blocker.unblock():
        keys = {role: logged_in(user) for role, user in users.items()}
    yield keys
    with django_db_blocker.unblock():
        Session.objects.filter(session_key__in=keys.values()).delete()
        # The log-ins' audit entries (raw SQL: the audit log refuses deletes through the ORM).
        AuditEntry.objects.filter(actor__in=users.values())._raw_delete("default")


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
def test_access(world, sessions, db, settings, key, method, role):
    # The self-registration POSTs of every role come from one address: not this test's subject.
    settings.SELF_SIGNUP_LIMIT_PER_ADDRESS = settings.SELF_SIGNUP_LIMIT_PER_LINK = 10**6
    objects, _ = world
    route = TABLE[key]
    url = route.url(objects) if callable(route.url) else route.url
    client = Client()
    if role != "anon":
        client.cookies[settings.SESSION_COOKIE_NAME] = sessions[role]
    response = client.get(url) if method == "GET" else client.post(url)
    expected = (route.get if method == "GET" else route.post)[role]
    check(response, expected, f"{method} {url} as {role}")
