"""Everything the code knows about the real census page, in one place.

Nobody here can reach the live site (see /work/shared/registraduria/README.md): each selector,
path and text below is a setting that may need correcting when the site changes. Texts are
compared after `fold()` (lower case, accents removed), so write them folded.
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
SUBMIT_BUTTON = "#consultaForm button[type=submit]"
RESULT_AREA = "#resultado"  # only read when the JSON answer could not be read
RECAPTCHA_WIDGET = ".g-recaptcha[data-sitekey]"
RECAPTCHA_SITEKEY_ATTR = "data-sitekey"
RECAPTCHA_CALLBACK_ATTR = "data-callback"
RECAPTCHA_RESPONSE = "textarea#g-recaptcha-response"
# The checkbox lives in a Google iframe on the real page, in the page itself on the simulator.
RECAPTCHA_IFRAME = "iframe[src*='recaptcha'][src*='anchor']"
RECAPTCHA_CHECKBOX = "#recaptcha-anchor"

# A filled election select: the page's JS loads the options from ELECTIONS_PATH.
ELECTION_READY_JS = (
    "(sel) => { const s = document.querySelector(sel);"
    " return !!s && s.options.length > 0 && s.value !== ''; }"
)

# --- Bot-protection pages (judge the body: the F5 block page can come with HTTP 200). --------
BLOCK_PAGE_MARKERS = (
    "the requested url was rejected",
    "request rejected",
    "your support id is",
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
