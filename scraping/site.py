"""Everything the code knows about the real census page, in one place.

Nobody here can reach the live site (see docs/CENSUS_SITE.md): each selector, path and text
below is a setting that may need correcting when the site changes. Texts are compared after
`fold()` (lower case, accents removed), so write them folded.
"""

from __future__ import annotations

import unicodedata

# --- Paths (same origin as the page; calls must ride the browser's F5 cookies). -------------
ELECTIONS_PATH = "/back/api/elecciones"
CONSULTA_PATH = "/back/api/consulta"

# --- Selectors. -----------------------------------------------------------------------------
FORM = "#consultaForm"
DOCUMENT_INPUT = "#documento"
ELECTION_SELECT = "#eleccion"
# The control that sends the consulta, whatever its type, tag or place: the first of these that
# is visible and enabled is clicked (one public client clicks `#submitBtn`). A page with none of
# them is submitted through its own API call from the page (`CONSULTA_FETCH_JS`).
SUBMIT_CONTROLS = (
    "#submitBtn",
    f"{FORM} [type=submit]",
    f"{FORM} button",
    "button:text-matches('consultar|buscar', 'i')",
    "input[type=button][value*='onsult' i], input[type=submit][value*='onsult' i]",
    "[role=button]:text-matches('consultar|buscar', 'i')",
)
RESULT_AREA = "#resultado"  # only read when the JSON answer could not be read
# The January 2026 shape: the answer rendered as an HTML table (see TABLE_COLUMNS).
RESULT_TABLE = "table"
RECAPTCHA_WIDGET = ".g-recaptcha[data-sitekey]"
RECAPTCHA_SITEKEY_ATTR = "data-sitekey"
RECAPTCHA_CALLBACK_ATTR = "data-callback"
RECAPTCHA_RESPONSE = "textarea#g-recaptcha-response"
# The checkbox lives in a Google iframe on the real page, in the page itself on the simulator.
RECAPTCHA_IFRAME = "iframe[src*='recaptcha'][src*='anchor']"
RECAPTCHA_CHECKBOX = "#recaptcha-anchor"

# The page's own consulta, sent from inside the page (its cookies ride along) when no submit
# control can be found: the JSON body the page's script sends [live].
CONSULTA_FETCH_JS = """([path, docSel, electionSel, token]) => {
  const doc = document.querySelector(docSel), sel = document.querySelector(electionSel);
  fetch(path, {method: "POST", headers: {"Content-Type": "application/json"},
    body: JSON.stringify({documento: doc.value.replace(/\\D/g, ""),
                          eleccionId: Number(sel.value), captchaToken: token})})
    .catch(() => {});
}"""

# A filled election select: the page's JS loads the options from ELECTIONS_PATH.
ELECTION_READY_JS = (
    "(sel) => { const s = document.querySelector(sel);"
    " return !!s && s.options.length > 0 && s.value !== ''; }"
)

# --- The answer as an HTML table (consultacenso in January 2026, wsp always). ------------------
# Header (or `data-th`) text, folded → the field it holds. Found: NUIP, DEPARTAMENTO, MUNICIPIO,
# PUESTO, DIRECCIÓN, MESA; a cancelled document: NUIP, NOVEDAD, RESOLUCIÓN, FECHA NOVEDAD.
TABLE_COLUMNS = {
    "nuip": "nuip",
    "departamento": "departamento",
    "municipio": "municipio",
    "puesto": "puesto",
    "direccion": "direccion",
    "mesa": "mesa",
    "novedad": "novedad",
    "resolucion": "resolucion",
    "fecha novedad": "fecha_novedad",
}

# --- wsp: the older form at wsp.registraduria.gov.co/censo/consultar/ [live] ----------------
# A PHP page that POSTs a multipart FormData to its own URL and answers JSON
# {"success", "data": {"message": "<html or text>"}} or {"success": false, "reload": true}.
WSP_DOCUMENT_INPUT = "#nuip"
WSP_ELECTION_SELECT = "#tipo"
WSP_ELECTION_CURRENT = "-1"  # the current voting place
WSP_TOKEN_INPUT = "#token"  # noqa: S105 (a selector) anti-replay nonce, new on every load, tied to PHPSESSID
WSP_SUBMIT_CONTROLS = (
    "#enviar",
    "form [type=submit]",
    "button:text-matches('consultar|buscar|enviar', 'i')",
)
WSP_FETCH_JS = """([docSel, electionSel, tokenSel, token]) => {
  const form = new FormData();
  form.append("nuip", document.querySelector(docSel).value.replace(/\\D/g, ""));
  form.append("tipo", document.querySelector(electionSel).value);
  form.append("token", document.querySelector(tokenSel).value);
  form.append("g-recaptcha-response", token);
  fetch(window.location.href, {method: "POST", body: form}).catch(() => {});
}"""
# success:false texts: the captcha was missing or refused; the site's own upstream timed out.
WSP_CAPTCHA_WORDS = ("marque el cuadro", "captcha")
WSP_UPSTREAM_WORDS = ("curl error", "timed out", "operation timed out")

# --- Bot-protection pages (judge the body: the F5 block page can come with HTTP 200). --------
BLOCK_PAGE_MARKERS = (
    "the requested url was rejected",
    "request rejected",
    "your support id is",
    # F5 ASM's Spanish page, served with HTTP 500 to a bare Playwright (a public reading).
    "se presento un evento de seguridad",
)
JS_REQUIRED_MARKERS = (
    "se requiere javascript",
    "please enable javascript",
    "javascript is required",
)
# The F5-like challenge page sets a `TS…` cookie from script and reloads itself.
CHALLENGE_MARKERS = ("document.cookie", "ts01")

# --- Census messages → states, by words (first match wins; order matters). -----------------
DECEASED_WORDS = ("muerte", "fallecid", "defuncion")
PENDING_WORDS = ("pendiente", "en proceso", "en tramite")
CANCELLED_OTHER_WORDS = (
    "baja",
    "perdida",
    "suspension",
    "cancelad",
    "derechos politicos",
    "interdiccion",
)
NOT_IN_CENSUS_WORDS = (
    "no se encuentra",
    "no existe",
    "no registra",
    "no esta inscrit",
    "no figura",
)

# --- ok:false texts. ------------------------------------------------------------------------
CAPTCHA_ERROR_WORDS = ("captcha", "token", "expir", "recaptcha")
THROTTLE_WORDS = ("demasiadas", "too many", "limite de consultas", "intente mas tarde")


def fold(text: str) -> str:
    """Lower-case, accent-free text for word matching ("Pérdida" → "perdida")."""
    decomposed = unicodedata.normalize("NFKD", text or "")
    return "".join(c for c in decomposed if not unicodedata.combining(c)).casefold()


def contains_any(text: str, words: tuple[str, ...]) -> bool:
    folded = fold(text)
    return any(word in folded for word in words)
