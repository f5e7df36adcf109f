"""The Content-Security-Policy in a real Chromium against the live server (issue 21, item 6):
the portal (log-in form, htmx polling, the create and import forms, the language switcher)
and the admin (log-in, lists, an action, change forms with their scripts) work, and the
browser reports no violation of the policy while they do. A page that breaks the policy on
purpose shows the check can fail."""

import pytest
from django.contrib.auth.models import User
from django.urls import reverse
from playwright.sync_api import expect, sync_playwright

from referrals.models import Referral
from tests.browsers import launch_portal_browser

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

PASSWORD = "una-clave-larga-99"
# Each document reports its violations to the test (a binding survives navigations) and keeps
# them for the page to be asked.
REPORT = """
window.__csp = [];
document.addEventListener("securitypolicyviolation", (e) => {
  const text = `${e.violatedDirective} ${e.blockedURI} at ${e.sourceFile}:${e.lineNumber}`;
  window.__csp.push(text);
  window.__reportCsp(text);
});
"""


@pytest.fixture
def people(transactional_db, redis):
    leader = User.objects.create_user("lideresa", "l@example.com", PASSWORD)
    User.objects.create_superuser("jefa", "j@example.com", PASSWORD)
    # In flight: the list and detail pages poll it with htmx (no worker runs here).
    referral = Referral.objects.create(cedula="1020304050", referred_by=leader, status="pending")
    return {"referral_pk": referral.pk}


@pytest.fixture
def browser_page(people, live_server, settings):
    settings.SESSION_COOKIE_SECURE = False
    settings.CSRF_COOKIE_SECURE = False
    violations: list[str] = []
    console: list[str] = []
    with sync_playwright() as playwright:
        browser = launch_portal_browser(playwright)
        context = browser.new_context(base_url=live_server.url, locale="es-CO")
        context.set_default_timeout(15_000)
        context.expose_function("__reportCsp", lambda text: violations.append(text))
        context.add_init_script(REPORT)
        page = context.new_page()
        page.on(
            "console",
            lambda m: console.append(m.text) if "Content Security Policy" in m.text else None,
        )
        yield page, violations, console, people
        context.close()
        browser.close()


def log_in(page, url, username):
    page.goto(url)
    page.locator("#id_username").fill(username)
    page.locator("#id_password").fill(PASSWORD)
    page.locator("#id_password").press("Enter")


def wait_for_htmx_poll(page):
    with page.expect_response(lambda r: r.request.headers.get("hx-request") == "true") as poll:
        pass
    assert poll.value.status == 200


def test_the_portal_and_the_admin_work_without_a_csp_violation(browser_page):
    page, violations, console, people = browser_page

    # --- the portal ---------------------------------------------------------------------------
    log_in(page, reverse("login"), "lideresa")
    expect(page.get_by_role("heading", name="Mis referidos")).to_be_visible()
    response = page.request.get(reverse("referrals:list"))
    assert "script-src 'self'" in response.headers["content-security-policy"]
    wait_for_htmx_poll(page)  # the list polls its in-flight referral every 3 s
    page.goto(reverse("referrals:detail", args=[people["referral_pk"]]))
    wait_for_htmx_poll(page)

    page.goto(reverse("referrals:create"))
    page.get_by_label("Cédula").fill("52.123.456")
    page.locator("#id_authorized").check()  # the authorization attested
    page.get_by_role("button", name="Registrar y verificar").click()
    expect(page.get_by_role("heading", name="Cédula 52123456")).to_be_visible()

    page.goto(reverse("referrals:import"))
    page.locator("input[type=file]").set_input_files(
        {"name": "lista.csv", "mimeType": "text/csv", "buffer": b"cedula;nombre\n79123456;Luis\n"}
    )
    page.locator("main form [type=submit]").first.click()
    expect(page.get_by_text("79123456")).to_be_visible()

    page.goto(reverse("referrals:places"))
    page.goto(reverse("integrations"))
    expect(page.get_by_role("heading").first).to_be_visible()
    page.goto(reverse("api:docs"))  # Swagger UI, its files from this site
    expect(page.locator(".swagger-ui .info")).to_be_visible()
    page.goto(reverse("password_change"))
    page.locator("#language").select_option("en")
    page.locator("footer form [type=submit]").click()
    expect(page.locator("html")).to_have_attribute("lang", "en")
    page.locator("#language").select_option("es-co")
    page.locator("footer form [type=submit]").click()
    page.get_by_role("button", name="Salir").click()

    # --- the admin ----------------------------------------------------------------------------
    log_in(page, reverse("admin:login"), "jefa")
    expect(page.locator("#site-name")).to_be_visible()
    page.goto(reverse("admin:referrals_referral_changelist"))
    page.locator("input[name=_selected_action]").first.check()
    page.locator("select[name=action]").select_option("verify_again")
    page.locator("button[name=index]").click()
    expect(page.get_by_text("en cola de nuevo")).to_be_visible()
    page.goto(reverse("admin:referrals_referral_change", args=[people["referral_pk"]]))
    expect(page.locator("#id_full_name")).to_be_visible()
    page.goto(reverse("admin:auth_user_add"))
    page.locator("#id_username").fill("nuevo")
    page.goto(reverse("admin:auth_user_changelist") + "?q=jefa")
    page.goto(reverse("ops-dashboard"))
    expect(page.get_by_role("heading").first).to_be_visible()

    assert not violations, violations
    assert not console, console


def test_the_check_sees_a_violation(browser_page):
    page, violations, _console, _ = browser_page
    log_in(page, reverse("login"), "lideresa")
    expect(page.get_by_role("heading", name="Mis referidos")).to_be_visible()
    page.evaluate(
        "() => { const s = document.createElement('script'); s.textContent = '1';"
        " document.body.append(s); }"
    )
    page.wait_for_function("() => window.__csp.length > 0")
    page.evaluate("() => 0")  # one more round trip: the binding's call has reached us
    assert any(v.startswith("script-src") for v in violations), violations
