"""The portal as a user reads it, in a real Chromium against the live server: every page in
English has no Spanish UI text left, and the pages people open on a phone fit a 390 px screen
(no sideways scrolling; the figures they came for are on screen)."""

import contextlib
import re
from datetime import timedelta

import pytest
from django.contrib.auth.models import User
from django.urls import reverse
from django.utils import timezone
from playwright.sync_api import expect, sync_playwright

from api import services as api_services
from campaigns import services as campaign_services
from campaigns.models import Membership, Role, Team
from ops.models import Alert
from pipeline.verification import RETRIES_EXHAUSTED_MESSAGE
from referrals import imports
from referrals.models import Referral, Status
from tests.browsers import launch_portal_browser
from tests.test_portal_browser import ARTIFACTS
from webhooks import services as webhook_services

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

PASSWORD = "una-clave-larga-99"
PHONE = {"width": 390, "height": 844}
# Spanish UI words that have no business in the English UI (data such as names and places may
# be Spanish; these are words of the interface). Matched as whole words, case-sensitive.
SPANISH = [
    "Agregar", "Importar", "Salir", "Buscar", "Todos", "Filtrar", "Estado", "Nombre",
    "Registrado", "Registrar", "verificados", "Verificado", "Verificando", "En cola", "Falló",
    "Bloqueado", "Lo intentaremos", "Nuestro equipo", "Mesa", "referidos", "Referidos",
    "Cambiar", "Idioma", "Alertas", "Circuito", "cerrado", "abierto", "Colas", "Saldo",
    "Fallos", "Intentos", "Trabajo", "consultados", "pausa", "Entrar", "clave", "Contraseña",
    "Archivo", "Página", "Volver", "Ningún", "Ninguna", "hace", "Sin", "Puesto", "puesto",
    "Departamento", "Municipio", "Resumen", "Filas", "Fila", "Resultado",
    "Se registrará", "Repetida", "Cancelar", "Descargar", "Panel", "Abrir", "latido",
    "tokens listos", "Desperdiciados", "Usados", "Costo", "Hora", "Demorado", "entregada",
    "Operaciones", "Verificar de nuevo", "referido por", "estado", "tipo", "creada",
    "No encontramos", "Anterior", "Siguiente", "Principal", "Saltar",
]  # fmt: skip
SPANISH_RE = re.compile(r"\b(" + "|".join(map(re.escape, SPANISH)) + r")\b")


@pytest.fixture
def data(transactional_db):
    user = User.objects.create_user("lider", password=PASSWORD, is_staff=True, is_superuser=True)
    place = {
        "departamento": "BOGOTA D.C.",
        "municipio": "BOGOTA D.C.",
        "puesto": "INSTITUCION EDUCATIVA DISTRITAL ALBERTO LLERAS CAMARGO SEDE B",
        "direccion": "KR 86 # 42-15 SUR",
        "mesa": "12",
    }
    verified = Referral.objects.create(
        cedula="1020304050", full_name="Ana Smith", referred_by=user, status="verified", **place
    )
    failed = Referral.objects.create(
        cedula="52123456",
        full_name="Bob Jones",
        referred_by=user,
        status=Status.FAILED,
        last_error=RETRIES_EXHAUSTED_MESSAGE,
    )
    Referral.objects.create(cedula="79845123", full_name="Carol White", referred_by=user)
    Referral.objects.create(
        cedula="80123456", full_name="Dan Brown", referred_by=user, status=Status.BLOCKED
    )
    data = b"cedula;nombre\n52123456;Bob Jones\n1234;Bad Row\n1098765432;Eve Green\n"
    batch = imports.prepare_import(user=user, data=data, filename="list.csv")
    Alert.objects.create(key="circuit-open", title="Circuit open", body="b")
    Alert.objects.filter(pk__isnull=False).update(created_at=timezone.now() - timedelta(minutes=7))
    return {"verified": verified.pk, "failed": failed.pk, "batch": batch.pk}


@pytest.fixture
def page(data, live_server, settings):
    settings.SESSION_COOKIE_SECURE = False
    settings.CSRF_COOKIE_SECURE = False
    with english_browser(live_server) as page:
        page.goto(reverse("login"))
        expect(page.get_by_role("button", name="Entrar")).to_be_visible()
        page.get_by_label("Nombre de usuario").fill("lider")
        page.get_by_label("Contraseña").fill(PASSWORD)
        page.get_by_role("button", name="Entrar").click()
        expect(page.get_by_role("heading", name="Mis referidos")).to_be_visible()
        yield page


@contextlib.contextmanager
def english_browser(live_server):
    """A page of a browser that asks for English: the portal still speaks Spanish until the
    user picks."""
    with sync_playwright() as playwright:
        browser = launch_portal_browser(playwright)
        context = browser.new_context(base_url=live_server.url, locale="en-US")
        context.set_default_timeout(15_000)
        try:
            yield context.new_page()
        finally:
            context.close()
            browser.close()


def choose_english(page):
    page.get_by_label("Idioma").select_option("en")
    page.get_by_role("button", name="Cambiar").click()
    expect(page.get_by_role("heading", name="My referrals")).to_be_visible()


def spanish_words(page) -> list[str]:
    text = page.locator("body").inner_text()
    data = ["BOGOTA D.C.", "INSTITUCION EDUCATIVA DISTRITAL ALBERTO LLERAS CAMARGO SEDE B"]
    for value in data:
        text = text.replace(value, "")
    return sorted(set(SPANISH_RE.findall(text)))


def test_every_page_in_english_has_no_spanish_ui_text(page, data):
    choose_english(page)
    pages = [
        reverse("referrals:list"),
        reverse("referrals:list") + "?q=smith",
        reverse("referrals:detail", args=[data["verified"]]),
        reverse("referrals:detail", args=[data["failed"]]),
        reverse("referrals:create"),
        reverse("referrals:import"),
        reverse("referrals:import-detail", args=[data["batch"]]),
        reverse("referrals:places"),
        reverse("password_change"),
        reverse("password_reset"),
        reverse("password_reset_done"),
        reverse("ops-dashboard"),
        "/no-such-page/",
        reverse("admin:index"),
        reverse("admin:referrals_referral_changelist"),
        reverse("admin:referrals_referral_change", args=[data["failed"]]),
        reverse("admin:ops_alert_changelist"),
    ]
    found = {}
    for url in pages:
        page.goto(url)
        words = spanish_words(page)
        if words:
            found[url] = words
    assert not found, found
    page.goto(reverse("referrals:detail", args=[data["verified"]]))
    expect(page.locator(".census")).to_contain_text("Polling table")
    page.goto(reverse("referrals:detail", args=[data["failed"]]))
    expect(page.get_by_test_id("explanation")).to_contain_text("after several attempts")


def test_phone_pages_fit_390_px(page, data):
    ARTIFACTS.mkdir(exist_ok=True)
    page.set_viewport_size(PHONE)
    pages = {
        "places": reverse("referrals:places"),
        "import-report": reverse("referrals:import-detail", args=[data["batch"]]),
        "ops": reverse("ops-dashboard"),
        "list": reverse("referrals:list"),
    }
    overflowing = {}
    for name, url in pages.items():
        page.goto(url)
        page.screenshot(path=ARTIFACTS / f"phone-{name}.png", full_page=True)
        widths = page.evaluate("[document.documentElement.scrollWidth, window.innerWidth]")
        if widths[0] > widths[1]:
            overflowing[name] = widths
    assert not overflowing, overflowing
    # "Por puesto": the count is on screen, not scrolled out of a wide table.
    page.goto(reverse("referrals:places"))
    count = page.get_by_test_id("place-count").first
    expect(count).to_be_in_viewport()
    box = count.bounding_box()
    assert box["x"] + box["width"] <= PHONE["width"], box
    # The filters fold away on a phone, and open on demand.
    page.goto(reverse("referrals:list"))
    expect(page.get_by_label("Buscar por cédula o nombre")).to_be_hidden()
    page.get_by_text("Filtros", exact=True).click()
    expect(page.get_by_label("Buscar por cédula o nombre")).to_be_visible()


@pytest.fixture
def campaign_page(transactional_db, live_server, settings):
    """A manager with a team, a leader, an invitation, an API token and a webhook endpoint: the
    pages of the campaign and of integrations have something to show."""
    settings.SESSION_COOKIE_SECURE = False
    settings.CSRF_COOKIE_SECURE = False
    manager = User.objects.create_user("gerente", password=PASSWORD, is_staff=True)
    manager.is_superuser = True
    manager.save()
    Membership.objects.create(user=manager, role=Role.MANAGER)
    team = Team.objects.create(name="Norte", coordinator=None, goal=10)
    leader = User.objects.create_user("lider2", password=PASSWORD)
    membership = Membership.objects.create(user=leader, role=Role.LEADER, team=team, goal=5)
    Referral.objects.create(
        cedula="1020304050", referred_by=leader, status=Status.VERIFIED, municipio="MEDELLIN"
    )
    Referral.objects.create(cedula="52123456", referred_by=leader)
    invitation = campaign_services.create_invitation(
        actor=manager, role=Role.LEADER, team=team, expires_in=timedelta(days=3), max_uses=2
    )
    api_services.create_token(user=manager, name="CRM")
    webhook_services.register_endpoint(
        owner=manager, url="https://crm.example.com/hooks", events=["referral.finished"]
    )
    with english_browser(live_server) as page:
        yield page, {"invitation": invitation.token, "code": membership.signup_code}


def test_the_campaign_and_integration_pages_in_english_have_no_spanish_ui_text(campaign_page):
    page, data = campaign_page
    anonymous = [
        reverse("login"),
        reverse("signup"),
        reverse("invitation-signup", args=[data["invitation"]]),
        reverse("self-register", args=[data["code"]]),
    ]
    page.goto(reverse("login"))
    page.get_by_label("Idioma").select_option("en")
    page.get_by_role("button", name="Cambiar").click()
    expect(page.get_by_role("button", name="Log in")).to_be_visible()
    found = {}
    for url in anonymous:
        page.goto(url)
        if words := spanish_words(page):
            found[url] = words
    page.goto(reverse("login"))
    page.get_by_label("Username").fill("gerente")
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Log in").click()
    expect(page.get_by_role("heading", name="Referrals")).to_be_visible()
    signed_in = [
        reverse("referrals:list"),
        reverse("referrals:dashboard"),
        reverse("referrals:my-link"),
        reverse("campaigns:home"),
        reverse("integrations"),
        reverse("admin:campaigns_team_changelist"),
        reverse("admin:campaigns_membership_changelist"),
        reverse("admin:campaigns_invitation_changelist"),
        reverse("admin:webhooks_webhookendpoint_changelist"),
        reverse("admin:webhooks_webhookdelivery_changelist"),
        reverse("admin:referrals_cutoverrecord_changelist"),
        reverse("admin:referrals_importbatch_changelist"),
        reverse("admin:referrals_scrapeattempt_changelist"),
    ]
    for url in signed_in:
        page.goto(url)
        if words := spanish_words(page):
            found[url] = words
    assert not found, found
