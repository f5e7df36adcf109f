"""A campaign in a real Chromium, against the live server, a real Celery worker, Redis and the
simulator: the manager invites a coordinator, who invites two leaders; the leaders add
referrals and a person registers through a leader's link; each role sees its own part; a
leader moved to another team leaves the first coordinator's view. Screenshots of each role's
main page (desktop and phone) go to test-artifacts/."""

from pathlib import Path

import pytest
from django.core.management import call_command
from django.urls import reverse
from playwright.sync_api import expect, sync_playwright

from simulator import expected_status
from tests.browsers import launch_portal_browser

pytestmark = [pytest.mark.browser, pytest.mark.worker, pytest.mark.django_db(transaction=True)]

ARTIFACTS = Path(__file__).resolve().parent.parent / "test-artifacts" / "campaign"
PASSWORD = "una-clave-larga-99"
PHONE = {"width": 375, "height": 812}
DESKTOP = {"width": 1280, "height": 800}


def found_cedulas(n: int) -> list[str]:
    """Numbers the simulator answers with a voting place."""
    found, candidate = [], 40_000_001
    while len(found) < n:
        if expected_status(str(candidate)) == "found":
            found.append(str(candidate))
        candidate += 7919
    return found


@pytest.fixture
def manager(transactional_db, monkeypatch):
    # Made as the README says, before the browser starts (no ORM once Playwright's loop runs).
    monkeypatch.setenv("TEST_MANAGER_PASSWORD", PASSWORD)
    call_command("create_manager", "gerente", "--password-env", "TEST_MANAGER_PASSWORD")
    return "gerente"


@pytest.fixture
def browser(transactional_db, live_server, settings):
    settings.SESSION_COOKIE_SECURE = False
    settings.CSRF_COOKIE_SECURE = False
    with sync_playwright() as playwright:
        chromium = launch_portal_browser(playwright)
        contexts = []

        def new_page(viewport=DESKTOP):
            context = chromium.new_context(
                base_url=live_server.url, locale="es-CO", viewport=viewport
            )
            context.set_default_timeout(15_000)
            contexts.append(context)
            return context.new_page()

        yield new_page
        for context in contexts:
            context.close()
        chromium.close()


def log_in(page, username):
    page.goto(reverse("login"))
    page.get_by_label("Nombre de usuario").fill(username)
    page.get_by_label("Contraseña").fill(PASSWORD)
    page.get_by_role("button", name="Entrar").click()
    expect(page.get_by_role("button", name="Salir")).to_be_visible()


def invite(page, role, uses=1, team=None) -> str:
    page.goto(reverse("campaigns:home"))
    page.locator("#id_role").select_option(label=role)
    if team:
        page.locator("#id_team").select_option(label=team)
    page.locator("#id_max_uses").fill(str(uses))
    page.get_by_role("button", name="Crear invitación").click()
    expect(page.get_by_text("Invitación creada")).to_be_visible()
    return page.get_by_test_id("invitation-link").first.input_value()


def sign_up(page, link, username):
    page.goto(link)
    expect(page.get_by_test_id("invitation")).to_be_visible()
    page.locator("#id_username").fill(username)
    page.locator("#id_email").fill(f"{username}@example.com")
    page.locator("#id_password1").fill(PASSWORD)
    page.locator("#id_password2").fill(PASSWORD)
    page.locator("#id_accept_policy").check()  # the data policy, shown at sign-up
    page.get_by_role("button", name="Crear cuenta").click()
    expect(page.get_by_role("button", name="Salir")).to_be_visible()


def add_referral(page, cedula):
    page.get_by_role("link", name="Agregar", exact=True).click()
    page.get_by_label("Cédula").fill(cedula)
    page.locator("#id_authorized").check()  # the authorization attested
    page.get_by_role("button", name="Registrar y verificar").click()
    expect(page.get_by_role("heading", name=f"Cédula {cedula}")).to_be_visible()


def list_cedulas(page) -> set[str]:
    page.goto(reverse("referrals:list"))
    return set(page.locator("#referral-rows tbody tr td:first-child a").all_inner_texts())


def shoot(page, name):
    """Desktop and phone screenshots of the page as it is; nothing wider than the phone."""
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    page.set_viewport_size(DESKTOP)
    page.screenshot(path=ARTIFACTS / f"{name}.png", full_page=True)
    page.set_viewport_size(PHONE)
    page.screenshot(path=ARTIFACTS / f"{name}-phone.png", full_page=True)
    width = page.evaluate("document.documentElement.scrollWidth")
    assert width <= PHONE["width"], f"{name}: the page scrolls sideways on a phone ({width}px)"
    page.set_viewport_size(DESKTOP)


def test_a_campaign_from_the_manager_to_the_leaders(manager, browser, start_worker, pipeline_env):
    start_worker(env=pipeline_env())
    mine, theirs, self_registered = found_cedulas(3)

    # The manager invites a coordinator, who signs up through the link and gets a team.
    boss = browser()
    log_in(boss, manager)
    coordinator_link = invite(boss, "Coordinador")
    coordinator = browser()
    sign_up(coordinator, coordinator_link, "coord1")
    expect(coordinator.get_by_role("heading", name="Panel de la campaña")).to_be_visible()

    # The coordinator invites two leaders with one link of two uses.
    leaders_link = invite(coordinator, "Líder", uses=2)
    leader1, leader2 = browser(), browser()
    sign_up(leader1, leaders_link, "lider1")
    sign_up(leader2, leaders_link, "lider2")
    expect(leader2.get_by_role("heading", name="Mis referidos")).to_be_visible()
    add_referral(leader1, mine)
    add_referral(leader2, theirs)

    # The coordinator gives leader 1 a goal of 4 verified and the team a goal of 10.
    coordinator.goto(reverse("campaigns:home"))
    row = coordinator.locator('tr[data-member="lider1"]')
    row.locator('input[type="number"]').fill("4")
    row.get_by_role("button", name="Guardar").click()
    expect(coordinator.get_by_text("Cambios guardados para lider1")).to_be_visible()
    team_row = coordinator.locator("tr[data-team]")
    team_row.locator('input[type="number"]').fill("10")
    team_row.get_by_role("button", name="Guardar").click()
    expect(coordinator.get_by_text("Meta del equipo guardada")).to_be_visible()

    # A person opens leader 1's link on a phone and registers themselves.
    leader1.get_by_role("link", name="Mi enlace").click()
    self_link = leader1.get_by_test_id("self-link").input_value()
    expect(leader1.locator("img.qr")).to_be_visible()
    person = browser(viewport=PHONE)
    person.goto(self_link)
    shoot(person, "self-registration")
    person.get_by_label("Cédula").fill(self_registered)
    person.get_by_label("Nombre completo").fill("Rosa Autónoma")
    person.get_by_label("Acepto la política").check()
    person.get_by_role("button", name="Registrarme").click()
    expect(person.get_by_test_id("self-done")).to_be_visible()

    # The coordinator sees both leaders' referrals; the list polls until all are verified.
    assert list_cedulas(coordinator) == {mine, theirs, self_registered}
    expect(coordinator.locator("#referral-rows:not([hx-trigger])")).to_be_attached(timeout=90_000)
    expect(coordinator.locator("#referral-rows .badge-verified")).to_have_count(3)
    coordinator.get_by_role("link", name="Panel").click()
    expect(coordinator.get_by_test_id("total")).to_have_text("3")
    expect(coordinator.get_by_test_id("verified")).to_have_text("3")
    expect(
        coordinator.locator('tr[data-leader="lider1"] [data-testid="leader-verified"]')
    ).to_have_text("2")
    expect(coordinator.get_by_test_id("goal")).to_contain_text("3 de 10 (30 %)")
    # Each count is a link to the filtered list.
    # (The list is read once the new page has it: read at once, it was the panel's, with none.)
    coordinator.locator('tr[data-leader="lider2"] [data-testid="leader-total"] a').click()
    expect(coordinator.locator("#referral-rows tbody tr td:first-child a")).to_have_text([theirs])
    coordinator.get_by_role("link", name="Panel").click()
    shoot(coordinator, "coordinator-dashboard")
    coordinator.goto(reverse("campaigns:home"))
    shoot(coordinator, "coordinator-team")

    # A leader sees only their own (their referral and the self-registered one).
    assert list_cedulas(leader1) == {mine, self_registered}
    assert list_cedulas(leader2) == {theirs}
    leader1.goto(reverse("referrals:list"))
    expect(leader1.get_by_test_id("goal")).to_contain_text("2 de 4 (50 %)")
    shoot(leader1, "leader-list")
    coordinator.goto(reverse("referrals:list") + f"?q={theirs}")
    coordinator_detail_url = coordinator.get_by_role("link", name=theirs).get_attribute("href")
    detail_of_theirs = leader1.goto(coordinator_detail_url)
    assert detail_of_theirs.status == 404

    # A viewer of the coordinator's team sees the counts and cannot act.
    viewer_link = invite(boss, "Observador", team="Equipo de coord1")
    viewer = browser()
    sign_up(viewer, viewer_link, "vera")
    expect(viewer.get_by_role("heading", name="Panel de la campaña")).to_be_visible()
    expect(viewer.get_by_test_id("total")).to_have_text("3")
    expect(viewer.get_by_test_id("total").locator("a")).to_have_count(0)
    expect(viewer.get_by_role("link", name="Agregar", exact=True)).to_have_count(0)
    assert viewer.goto(coordinator_detail_url).status == 403
    assert viewer.goto(reverse("referrals:create")).status == 403
    viewer.goto(reverse("referrals:dashboard"))
    shoot(viewer, "viewer-dashboard")

    # The manager sees the whole campaign, then moves leader 2 to a second coordinator's team.
    boss.goto(reverse("referrals:dashboard"))
    expect(boss.get_by_test_id("total")).to_have_text("3")
    shoot(boss, "manager-dashboard")
    second = browser()
    sign_up(second, invite(boss, "Coordinador"), "coord2")
    boss.goto(reverse("campaigns:home"))
    row = boss.locator('tr[data-member="lider2"]')
    row.locator("select").select_option(label="Equipo de coord2")
    row.get_by_role("button", name="Guardar").click()
    expect(boss.get_by_text("Cambios guardados para lider2")).to_be_visible()
    shoot(boss, "manager-team")

    assert list_cedulas(coordinator) == {mine, self_registered}
    coordinator.goto(reverse("referrals:dashboard"))
    expect(coordinator.get_by_test_id("total")).to_have_text("2")
    expect(coordinator.locator('tr[data-leader="lider2"]')).to_have_count(0)
    assert coordinator.goto(coordinator_detail_url).status == 404
    assert list_cedulas(second) == {theirs}
    viewer.goto(reverse("referrals:dashboard"))
    expect(viewer.get_by_test_id("total")).to_have_text("2")
