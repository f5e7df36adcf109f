"""The portal in a real Chromium, against the live server, a real Celery worker, Redis and the
simulator of the Registraduría: what a campaign leader does on a normal day."""

import csv
import io
from pathlib import Path

import pytest
from django.urls import reverse
from playwright.sync_api import expect, sync_playwright

from simulator import KNOWN_CEDULAS, expected_status
from tests.browsers import launch_portal_browser

pytestmark = [pytest.mark.browser, pytest.mark.worker, pytest.mark.django_db(transaction=True)]

ARTIFACTS = Path(__file__).resolve().parent.parent / "test-artifacts"
PASSWORD = "una-clave-larga-99"
# Set once a page has loaded; a full navigation or reload would drop it.
MARK_PAGE = "window.__sameDocument = true"
PAGE_KEPT = "window.__sameDocument === true"


@pytest.fixture
def page(transactional_db, live_server, settings):
    # The live server speaks plain HTTP: cookies marked Secure (the default with DEBUG off)
    # would not come back.
    settings.SESSION_COOKIE_SECURE = False
    settings.CSRF_COOKIE_SECURE = False
    settings.SIGNUP_MODE = "open"  # these walks start with the open sign-up page
    # Playwright's sync API runs an event loop in this thread, and Django refuses ORM calls
    # from a thread with a running loop: the browser is started after the database is set up
    # and closed before it is flushed (this fixture depends on both). The test itself reads
    # everything through the browser.
    with sync_playwright() as playwright:
        browser = launch_portal_browser(playwright)
        context = browser.new_context(
            base_url=live_server.url, accept_downloads=True, locale="es-CO"
        )
        context.set_default_timeout(15_000)
        yield context.new_page()
        context.close()
        browser.close()


def sign_up_and_log_in(page, username):
    page.goto(reverse("signup"))
    page.get_by_label("Nombre de usuario").fill(username)
    page.locator("#id_email").fill(f"{username}@example.com")
    page.locator("#id_password1").fill(PASSWORD)
    page.locator("#id_password2").fill(PASSWORD)
    page.locator("#id_accept_policy").check()  # the data policy, shown at sign-up
    page.get_by_role("button", name="Crear cuenta").click()
    expect(page.get_by_role("heading", name="Mis referidos")).to_be_visible()
    # Out and in again, through the log-in form.
    page.get_by_role("button", name="Salir").click()
    page.goto(reverse("login"))
    page.get_by_label("Nombre de usuario").fill(username)
    page.get_by_label("Contraseña").fill(PASSWORD)
    page.get_by_role("button", name="Entrar").click()
    expect(page.get_by_role("heading", name="Mis referidos")).to_be_visible()


def screenshot_list(page, name):
    ARTIFACTS.mkdir(exist_ok=True)
    page.goto(reverse("referrals:list"))
    page.set_viewport_size({"width": 1280, "height": 800})
    page.screenshot(path=ARTIFACTS / f"{name}.png", full_page=True)
    page.set_viewport_size({"width": 375, "height": 812})
    page.screenshot(path=ARTIFACTS / f"{name}-phone.png", full_page=True)
    # Nothing wider than the phone's screen: no sideways scrolling of the whole page.
    assert page.evaluate("document.documentElement.scrollWidth") <= 375
    page.set_viewport_size({"width": 1280, "height": 800})


def test_add_a_cedula_and_watch_it_verify_without_reloading(page, start_worker, pipeline_env):
    start_worker(env=pipeline_env())
    sign_up_and_log_in(page, "lideresa")

    page.get_by_role("link", name="Agregar", exact=True).click()
    page.get_by_label("Cédula").fill("1.020.304.050")
    page.locator("#id_authorized").check()  # the authorization attested
    page.get_by_role("button", name="Registrar y verificar").click()
    expect(page.get_by_role("heading", name=f"Cédula {KNOWN_CEDULAS['found']}")).to_be_visible()
    badge = page.locator("#referral-status .badge")
    assert badge.get_attribute("data-status") in ("pending", "verifying", "retrying")
    page.evaluate(MARK_PAGE)

    # htmx polls while the referral is in flight and stops at a final state.
    expect(page.locator("#referral-status:not([hx-trigger])")).to_be_attached(timeout=60_000)
    status = badge.get_attribute("data-status")
    explanation = page.locator("#referral-status").inner_text()
    assert status == "verified", f"ended {status}: {explanation}"
    expect(badge).to_have_text("Verificado")
    expect(page.locator(".census")).to_contain_text("Puesto de votación")
    assert page.evaluate(PAGE_KEPT), "the page was reloaded or navigated away"

    screenshot_list(page, "referral-list")
    expect(page.locator(f'tr:has-text("{KNOWN_CEDULAS["found"]}") .badge')).to_have_text(
        "Verificado"
    )


@pytest.mark.slow
def test_import_20_watch_the_progress_and_export(page, start_worker, pipeline_env):
    # Two pool processes (each with its own Chromium), as a busier worker would run: halves
    # the wait for 20 lookups.
    start_worker(env=pipeline_env(), concurrency=2)
    sign_up_and_log_in(page, "coordinador")
    cedulas = [str(30_000_001 + i * 7919) for i in range(20)]
    content = "Cédula;Nombre\n" + "".join(f"{c};Persona {i}\n" for i, c in enumerate(cedulas))

    page.get_by_role("link", name="Importar", exact=True).click()
    page.get_by_label("Archivo CSV o Excel (.xlsx)").set_input_files(
        files=[{"name": "lista.csv", "mimeType": "text/csv", "buffer": content.encode("cp1252")}]
    )
    page.get_by_role("button", name="Revisar archivo").click()
    expect(page.locator('[data-count="accepted"]')).to_have_text("20")
    expect(page.locator('[data-outcome="accepted"]')).to_have_count(20)
    page.get_by_test_id("attest").check()  # every person in the file authorized it
    page.get_by_role("button", name="Registrar 20 cédulas").click()

    progress = page.locator("#batch-progress")
    expect(progress).to_have_attribute("max", "20")
    page.evaluate(MARK_PAGE)
    text = page.locator("#progress-text")
    expect(text).to_have_attribute("data-finished", "20", timeout=90_000)
    expect(progress).to_have_attribute("value", "20")
    expect(text).to_contain_text("20 de 20 consultados")  # looked up; verified is below
    expect(page.locator("#import-progress:not([hx-trigger])")).to_be_attached()
    assert page.evaluate(PAGE_KEPT), "the page was reloaded or navigated away"
    found = sum(expected_status(c) == "found" for c in cedulas)
    expect(page.locator("#import-progress")).to_contain_text(f"{found} con puesto de votación")
    page.set_viewport_size({"width": 375, "height": 812})
    page.screenshot(path=ARTIFACTS / "import-batch-phone.png", full_page=True)
    assert page.evaluate("document.documentElement.scrollWidth") <= 375
    page.set_viewport_size({"width": 1280, "height": 800})

    page.goto(reverse("referrals:list"))
    with page.expect_download() as download_info:
        page.get_by_role("link", name="Descargar CSV").click()
    raw = Path(download_info.value.path()).read_bytes()
    assert raw.startswith(b"\xef\xbb\xbf")
    rows = list(csv.reader(io.StringIO(raw.decode("utf-8-sig"), newline=""), delimiter=";"))
    assert rows[0][0] == "Cédula"
    assert rows[-1][0].startswith("Exportado por ")  # the last line: who exported, and when
    assert sorted(row[0] for row in rows[1:-1]) == sorted(cedulas)
    assert sum(row[2] == "Verificado" for row in rows[1:-1]) == found

    screenshot_list(page, "referral-list-import")
