"""The add form's authorization checkbox and the data policy, in a real Chromium against the
live server: what a leader sees and does, and what the portal then records."""

import pytest
from django.urls import reverse
from playwright.sync_api import expect

from tests.test_portal_browser import page, sign_up_and_log_in  # noqa: F401 (the fixture)

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_a_leader_attests_the_authorization_then_removes_a_mistake(page, redis):  # noqa: F811
    sign_up_and_log_in(page, "lideresa")  # the sign-up form's policy checkbox is ticked there
    page.get_by_role("link", name="Agregar", exact=True).click()
    expect(page.get_by_test_id("policy-notice")).to_contain_text("política de tratamiento")

    # Without the checkbox: refused, nothing registered, the reason on the page.
    page.get_by_label("Cédula").fill("1.020.304.050")
    page.get_by_role("button", name="Registrar y verificar").click()
    expect(
        page.get_by_text("Sin la autorización de la persona no podemos registrarla")
    ).to_be_visible()
    assert page.url.endswith(reverse("referrals:create"))

    page.get_by_label("Certifico que esta persona me autorizó").check()
    page.get_by_role("button", name="Registrar y verificar").click()
    expect(page.get_by_role("heading", name="Cédula 1020304050")).to_be_visible()
    record = page.get_by_test_id("authorization")
    expect(record).to_contain_text("El líder certifica que la persona autorizó")
    expect(record).to_contain_text("política versión 2026-1")
    expect(record).to_contain_text("lideresa")

    # Typed by mistake: removed, with everything.
    page.get_by_test_id("remove").click()
    expect(page.get_by_text("Referido borrado, con todos sus datos.")).to_be_visible()
    expect(page.get_by_text("1020304050")).to_have_count(0)

    # The privacy notice and the policy are one click away from every page.
    page.get_by_role("link", name="Aviso de privacidad").click()
    expect(page.get_by_test_id("privacy-notice")).to_contain_text("Ley 1581 de 2012")
