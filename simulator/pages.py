"""HTML and JavaScript the simulator serves: the SPA, the F5-like challenge, the block page."""

from __future__ import annotations

import json
import random

TS_COOKIE = "TS01c0ffee"
REAL_IDS = {"form": "consultaForm", "documento": "documento", "eleccion": "eleccion"}
# `markup_changed` fault: what a redesign might rename the ids to.
CHANGED_IDS = {"form": "formConsultaCenso", "documento": "nuip", "eleccion": "tipoEleccion"}

_CHALLENGE = """<!DOCTYPE html>
<html><head><meta charset="utf-8"><title></title>
<script>
(function () {
  var n = "__NONCE__", ua = navigator.userAgent, s = n + "|" + ua, h = 5381, f = 0;
  for (var i = 0; i < s.length; i++) { h = ((h * 33) ^ s.charCodeAt(i)) >>> 0; }
  if (__STRICT__) {
    if (navigator.webdriver) { f |= 1; }
    if (/HeadlessChrome/.test(ua)) { f |= 2; }
  }
  document.cookie = "__COOKIE__=" + n + "." + h.toString(16) + "." + f + "; path=/";
  window.location.reload();
})();
</script></head>
<body><noscript>Se requiere JavaScript. Please enable JavaScript to view the page content.
</noscript></body></html>
"""

_BLOCK = """<html><head><title>Request Rejected</title></head><body>
The requested URL was rejected. Please consult with your administrator.<br><br>
Your support ID is: __SUPPORT_ID__<br><br><a href='javascript:history.back();'>[Go Back]</a>
</body></html>
"""

_SECURITY_EVENT = """<html><head><title>Evento de seguridad</title></head><body>
<p>Se presentó un evento de seguridad. Por favor comuníquese con el administrador.</p>
<p>Número de soporte: __SUPPORT_ID__</p></body></html>
"""

BLOCK_PAGES = {"rejected": _BLOCK, "security_event": _SECURITY_EVENT}

_APP = """<!DOCTYPE html>
<html lang="es"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>Consulta de lugar de votación - Registraduría (simulador)</title>
<style>
 body{font-family:sans-serif;max-width:40rem;margin:2rem auto}
 .g-recaptcha{border:1px solid #ccc;padding:.6rem;margin:.8rem 0;width:16rem}
 #resultado{margin-top:1rem;white-space:pre-line}
</style></head>
<body><main>
<h1>Consulta tu lugar de votación</h1>
<form id="__FORM__" autocomplete="off">
  <label for="__DOC__">Número de documento</label>
  <input type="text" id="__DOC__" name="documento" maxlength="10" inputmode="numeric">
  <label for="__ELE__">Elección</label>
  <select id="__ELE__" name="eleccion"></select>
  <div class="g-recaptcha" data-sitekey="__SITEKEY__" data-callback="onCaptchaSuccess"
       data-expired-callback="onCaptchaExpired">
    <label><input type="checkbox" id="recaptcha-anchor"> No soy un robot</label>
    <textarea id="g-recaptcha-response" name="g-recaptcha-response"
              style="display:none"></textarea>
  </div>
  __SUBMIT_IN_FORM__
</form>
__SUBMIT_OUTSIDE__
<div id="resultado" aria-live="polite"></div>
</main>
<script>
(function () {
  var IDS = __IDS__;
  var SUBMIT_BY_FORM = __SUBMIT_BY_FORM__;
  var LIFETIME_MS = __LIFETIME_MS__;
  var form = document.getElementById(IDS.form);
  var doc = document.getElementById(IDS.documento);
  var sel = document.getElementById(IDS.eleccion);
  var out = document.getElementById("resultado");
  var widget = document.querySelector(".g-recaptcha");
  var box = document.getElementById("recaptcha-anchor");
  var area = document.getElementById("g-recaptcha-response");
  var expiry = null;

  function show(text) { out.textContent = text; }

  // A reCAPTCHA-v2-like widget: the checkbox asks the simulator for a token.
  window.grecaptcha = {
    getResponse: function () { return area.value; },
    reset: function () { area.value = ""; box.checked = false; clearTimeout(expiry); }
  };
  box.addEventListener("change", function () {
    if (!box.checked) { return; }
    fetch("/recaptcha/api2/userverify", {method: "POST",
      headers: {"Content-Type": "application/json"},
      body: JSON.stringify({sitekey: widget.dataset.sitekey})})
      .then(function (r) { return r.json(); })
      .then(function (j) {
        area.value = j.token;
        var cb = window[widget.dataset.callback];
        if (typeof cb === "function") { cb(j.token); }
        expiry = setTimeout(function () {
          grecaptcha.reset();
          var ecb = window[widget.dataset.expiredCallback];
          if (typeof ecb === "function") { ecb(); }
        }, LIFETIME_MS);
      })
      .catch(function () { box.checked = false; });
  });
  window.onCaptchaSuccess = function () { out.textContent = ""; };
  window.onCaptchaExpired = function () { show("La verificación expiró. Vuelva a marcarla."); };

  fetch("/back/api/elecciones").then(function (r) {
    if (!r.ok) { throw new Error("HTTP " + r.status); }
    return r.json();
  }).then(function (j) {
    j.data.forEach(function (e) {
      var o = document.createElement("option"); o.value = e.id; o.textContent = e.nombre;
      sel.appendChild(o);
    });
  }).catch(function () { show("No fue posible cargar las elecciones. Intente más tarde."); });

  function render(j) {
    if (!j.ok) { show(j.error || "Error en la consulta"); return; }
    if (j.novedad) { show(j.mensaje + (j.descripcion ? "\\n" + j.descripcion : "")); return; }
    if (!j.encontrado) { show(j.mensaje); return; }
    var d = {}; Object.keys(j.data).forEach(function (k) { d[k.toLowerCase()] = j.data[k]; });
    show("Departamento: " + d.nom_depto + "\\nMunicipio: " + d.nom_mun + "\\nPuesto: " +
         d.nom_puesto + "\\nDirección: " + d.direccion + "\\nMesa: " + d.mesa);
  }

  function send(ev) {
    if (ev) { ev.preventDefault(); }
    var token = area.value;
    if (!token) { show("Por favor confirme que no es un robot."); return; }
    show("Consultando...");
    fetch("/back/api/consulta", {method: "POST",
      headers: {"Content-Type": "application/json"},
      body: JSON.stringify({documento: doc.value.replace(/\\D/g, ""),
                            eleccionId: Number(sel.value), captchaToken: token})})
      .then(function (r) { return r.text(); })
      .then(function (t) {
        var j;
        try { j = JSON.parse(t); } catch (e) { out.innerHTML = t; return; }  // a table
        render(j);
      })
      .catch(function () { show("No fue posible realizar la consulta. Intente más tarde."); })
      .finally(function () { grecaptcha.reset(); });
  }
  // The variant's submit control: a submit button (the form's submit event), a script button
  // (its click), or none the client can recognise (the page is driven by its own request).
  form.addEventListener("submit", SUBMIT_BY_FORM ? send : function (ev) { ev.preventDefault(); });
  var scripted = document.getElementById("submitBtn");
  if (scripted) { scripted.addEventListener("click", send); }
  var odd = document.querySelector(".accion-consulta");
  if (odd) { odd.addEventListener("click", send); }
})();
</script>
</body></html>
"""


def challenge_page(nonce: str, *, strict: bool) -> str:
    return (
        _CHALLENGE.replace("__NONCE__", nonce)
        .replace("__STRICT__", "true" if strict else "false")
        .replace("__COOKIE__", TS_COOKIE)
    )


def block_page(kind: str = "rejected") -> str:
    support_id = "".join(random.choice("0123456789") for _ in range(19))
    return BLOCK_PAGES[kind].replace("__SUPPORT_ID__", support_id)


# Page variants of the submit control (`SimulatorSettings.submit_control`): (inside the form,
# after the form). The live page's control is not known: the client must not depend on it.
SUBMIT_CONTROLS = {
    "submit": ('<button type="submit">Consultar</button>', ""),
    "script_button": (
        "",
        '<p><button type="button" id="submitBtn" class="btn btn-primary">Consultar</button></p>',
    ),
    "div": ("", '<div class="accion-consulta" tabindex="0">Ver mi puesto</div>'),
}


def app_page(
    *, sitekey: str, token_lifetime: float, changed_markup: bool, submit_control: str = "submit"
) -> str:
    ids = CHANGED_IDS if changed_markup else REAL_IDS
    inside, outside = SUBMIT_CONTROLS[submit_control]
    return (
        _APP.replace("__SUBMIT_IN_FORM__", inside)
        .replace("__SUBMIT_OUTSIDE__", outside)
        .replace("__SUBMIT_BY_FORM__", "true" if submit_control == "submit" else "false")
        .replace("__FORM__", ids["form"])
        .replace("__DOC__", ids["documento"])
        .replace("__ELE__", ids["eleccion"])
        .replace("__SITEKEY__", sitekey)
        .replace("__IDS__", json.dumps(ids))
        .replace("__LIFETIME_MS__", str(int(token_lifetime * 1000)))
    )


def challenge_hash(nonce: str, user_agent: str) -> str:
    """Python twin of the challenge script's djb2-xor hash (cookie must match the UA)."""
    h = 5381
    for ch in f"{nonce}|{user_agent}":
        h = ((h * 33) ^ ord(ch)) & 0xFFFFFFFF
    return format(h, "x")


# --- wsp: the older PHP form (`/censo/consultar/`) -------------------------------------------
WSP_PATH = "/censo/consultar/"
WSP_SESSION_COOKIE = "PHPSESSID"
WSP_IDS = {"nuip": "nuip", "tipo": "tipo", "enviar": "enviar"}
WSP_CHANGED_IDS = {"nuip": "documento_nuip", "tipo": "tipo_consulta", "enviar": "btnConsultar"}

_WSP = """<!DOCTYPE html>
<html lang="es"><head><meta charset="utf-8"><title>Consulta Lugar de Votación</title></head>
<body><div class="container">
<h2>Consulte su lugar de votación</h2>
<div class="form-group">
  <label for="__NUIP__">Número de documento</label>
  <input type="text" class="form-control" id="__NUIP__" name="nuip" maxlength="10">
  <select class="form-control" id="__TIPO__" name="tipo">
    <option value="">Seleccione</option>
    <option value="-1">LUGAR DE VOTACIÓN ACTUAL</option>
  </select>
  <input type="hidden" id="token" name="token" value="__TOKEN__">
  <div class="g-recaptcha" data-sitekey="__SITEKEY__">
    <label><input type="checkbox" id="recaptcha-anchor"> No soy un robot</label>
    <textarea id="g-recaptcha-response" name="g-recaptcha-response"
              style="display:none"></textarea>
  </div>
  <button type="button" class="btn btn-primary" id="__ENVIAR__">Consultar</button>
</div>
<div id="resultado"></div>
</div>
<script>
(function () {
  var IDS = __IDS__;
  var out = document.getElementById("resultado");
  var area = document.getElementById("g-recaptcha-response");
  var box = document.getElementById("recaptcha-anchor");
  window.grecaptcha = {
    getResponse: function () { return area.value; },
    reset: function () { area.value = ""; box.checked = false; }
  };
  box.addEventListener("change", function () {
    if (!box.checked) { return; }
    fetch("/recaptcha/api2/userverify", {method: "POST"})
      .then(function (r) { return r.json(); })
      .then(function (j) { area.value = j.token; });
  });
  document.getElementById(IDS.enviar).addEventListener("click", function () {
    var data = new FormData();
    data.append("nuip", document.getElementById(IDS.nuip).value);
    data.append("tipo", document.getElementById(IDS.tipo).value);
    data.append("token", document.getElementById("token").value);
    data.append("g-recaptcha-response", area.value);
    fetch(window.location.href, {method: "POST", body: data})
      .then(function (r) { return r.json(); })
      .then(function (j) {
        if (j.reload) { window.location.reload(); return; }
        out.innerHTML = (j.data && j.data.message) || "";
      })
      .catch(function () { out.textContent = "Error"; })
      .finally(function () { grecaptcha.reset(); });
  });
})();
</script></body></html>
"""


def wsp_page(*, sitekey: str, token: str, changed_markup: bool) -> str:
    ids = WSP_CHANGED_IDS if changed_markup else WSP_IDS
    return (
        _WSP.replace("__NUIP__", ids["nuip"])
        .replace("__TIPO__", ids["tipo"])
        .replace("__ENVIAR__", ids["enviar"])
        .replace("__TOKEN__", token)
        .replace("__SITEKEY__", sitekey)
        .replace("__IDS__", json.dumps(ids))
    )
