"""The portal's rough edges from the new-user run: each one, through the real views."""

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse

from referrals import imports
from referrals.models import Referral, Status


def test_a_duplicate_links_to_the_users_own_referral(user_client, user, other_user):
    own = Referral.objects.create(cedula="1020304050", referred_by=user)
    Referral.objects.create(cedula="52123456", referred_by=other_user)
    body = user_client.post(
        reverse("referrals:create"), {"authorized": "on", "cedula": "1.020.304.050"}
    ).content
    assert "ya está registrada" in body.decode()
    assert f'href="{own.get_absolute_url()}"' in body.decode()
    # Someone else's: the neutral answer, not linked (the user may not see it).
    body = user_client.post(
        reverse("referrals:create"), {"authorized": "on", "cedula": "52123456"}
    ).content.decode()
    assert "No es posible registrar esta cédula" in body
    assert "ya está registrada" not in body and 'data-testid="existing-referral"' not in body


@pytest.mark.parametrize(
    ("name", "kind"), [("lista.xls", "Excel 97-2003"), ("lista.ods", "OpenDocument")]
)
def test_an_unsupported_upload_says_which_format_it_is(user_client, name, kind):
    upload = SimpleUploadedFile(name, b"\xd0\xcf\x11\xe0" + b"\x00" * 200)
    body = user_client.post(reverse("referrals:import"), {"file": upload}).content.decode()
    assert f"No se pueden importar archivos {kind}" in body
    assert "CSV UTF-8" in body


def test_the_puesto_filter_narrows_by_municipio(user_client, user):
    for i, (municipio, puesto) in enumerate(
        [("MEDELLIN", "COLEGIO A"), ("MEDELLIN", "COLEGIO B"), ("CALI", "ESCUELA C")]
    ):
        Referral.objects.create(
            cedula=str(60_000_000 + i), referred_by=user, municipio=municipio, puesto=puesto
        )
    body = user_client.get(reverse("referrals:list"), {"municipio": "CALI"}).content.decode()
    assert 'value="ESCUELA C"' in body and 'value="COLEGIO A"' not in body
    body = user_client.get(reverse("referrals:list")).content.decode()
    assert 'value="ESCUELA C"' in body and 'value="COLEGIO A"' in body


def test_a_batch_says_consultados_and_each_row_links_to_its_referral(user_client, user):
    data = b"cedula;nombre\n52123456;Ana\n79845123;Beto\n"
    batch = imports.prepare_import(user=user, data=data, filename="l.csv")
    imports.confirm_import(batch, attested=True)
    Referral.objects.filter(cedula="52123456").update(status=Status.NOT_FOUND)
    body = user_client.get(batch.get_absolute_url()).content.decode()
    assert "1 de 2 consultados" in body
    for referral in Referral.objects.all():
        assert f'href="{referral.get_absolute_url()}" data-testid="row-link"' in body


def test_help_texts_are_the_ones_the_inputs_point_to(user_client):
    body = user_client.get(reverse("referrals:create")).content.decode()
    assert 'aria-describedby="id_cedula_helptext"' in body
    assert 'id="id_cedula_helptext"' in body


def test_spanish_whatever_the_browser_says_unless_the_user_chose(client, settings):
    login = reverse("login")
    assert "Entrar" in client.get(login, HTTP_ACCEPT_LANGUAGE="en-US,en").content.decode()
    client.cookies[settings.LANGUAGE_COOKIE_NAME] = "en"
    assert "Log in" in client.get(login, HTTP_ACCEPT_LANGUAGE="es").content.decode()


def test_staff_cannot_hand_edit_census_fields_or_status(client, user, db):
    from django.contrib.auth.models import User

    admin_user = User.objects.create_superuser("root", "r@example.com", "clave-0")
    client.force_login(admin_user)
    referral = Referral.objects.create(cedula="1020304050", referred_by=user, mesa="12")
    url = reverse("admin:referrals_referral_change", args=[referral.pk])
    body = client.get(url).content.decode()
    for field in ("status", "mesa", "puesto", "municipio", "census_status", "last_error"):
        assert f'name="{field}"' not in body, field
    client.post(url, {"cedula": "1020304050", "referred_by": user.pk, "status": "verified"})
    referral.refresh_from_db()
    assert referral.status == Status.PENDING


def test_error_pages_are_styled_and_translated(client, user, settings):
    client.force_login(user)
    response = client.get("/no-existe/")
    assert response.status_code == 404
    assert 'data-status="404"' in response.content.decode()
    assert "No encontramos esta página" in response.content.decode()
    response = client.get(reverse("ops-dashboard"))
    assert response.status_code == 403 and 'data-status="403"' in response.content.decode()
    client.cookies[settings.LANGUAGE_COOKIE_NAME] = "en"
    assert "We could not find this page" in client.get("/no-existe/").content.decode()


def test_staff_get_a_link_to_ops(client, user, staff_user):
    client.force_login(user)
    assert 'data-testid="nav-ops"' not in client.get(reverse("referrals:list")).content.decode()
    client.force_login(staff_user)
    assert 'data-testid="nav-ops"' in client.get(reverse("referrals:list")).content.decode()


def test_password_reset_by_e_mail(client, user, mailoutbox):
    login = client.get(reverse("login")).content.decode()
    assert f'href="{reverse("password_reset")}"' in login
    response = client.post(reverse("password_reset"), {"email": user.email})
    assert response.status_code == 302
    [mail] = mailoutbox
    link = next(line for line in mail.body.splitlines() if "/cuenta/clave/nueva/" in line)
    path = link.split("://", 1)[1].split("/", 1)[1]
    form = client.get("/" + path, follow=True)
    assert "Clave nueva" in form.content.decode()
    new = "otra-clave-larga-42"
    done = client.post(
        form.redirect_chain[-1][0] if form.redirect_chain else "/" + path,
        {"new_password1": new, "new_password2": new},
    )
    assert done.status_code == 302
    assert client.login(username=user.username, password=new)
    # An unknown address gets the same answer: nobody learns who has an account.
    assert client.post(reverse("password_reset"), {"email": "nadie@example.com"}).status_code == 302
    assert len(mailoutbox) == 1


def test_a_final_detail_page_keeps_watching_for_a_re_verify(user_client, user):
    referral = Referral.objects.create(cedula="1020304050", referred_by=user, status="failed")
    body = user_client.get(referral.get_absolute_url()).content.decode()
    assert 'data-testid="reverify-watch"' in body and 'hx-trigger="every 20s"' in body
    Referral.objects.filter(pk=referral.pk).update(status=Status.PENDING)  # the admin re-verify
    partial = user_client.get(referral.get_absolute_url(), HTTP_HX_REQUEST="true").content
    assert b'hx-trigger="every 3s"' in partial  # back to polling fast while in flight
