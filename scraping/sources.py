"""The census pages a lookup can use, each as a small adapter over the same lookup steps.

`consultacenso` (the current single-page app and its JSON API) and `wsp` (the older PHP form
that posts to itself) answer the same question; `scraping.flow.LookupFlow` runs the same
steps on either (load through the F5 gate, fill, captcha, submit, read) and asks the adapter
only what differs. Their selectors and texts live in `scraping.site`. A third page would be a
third adapter here, a section in `site.py` and a parser function.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from urllib.parse import urlsplit

from scraping import site
from scraping.errors import PageChangedError
from scraping.parser import parse_consulta_body, parse_wsp, raise_if_blocked
from scraping.results import CensusResult

CONSULTACENSO = "consultacenso"
WSP = "wsp"


@dataclass(frozen=True)
class PageAdapter:
    name: str
    # Present once the page (past the F5 gate) has its form.
    ready: str
    document_input: str
    election_select: str
    # consultacenso: the page's JS fills the select from this API path; wsp: None, the client
    # picks `election_value` itself.
    elections_path: str | None
    election_value: str | None
    submit_controls: tuple[str, ...]
    # (request URL, method, page URL) → is this the consulta?
    is_consulta: Callable[[str, str, str], bool]
    # The page's own request sent from inside the page, when no submit control is found:
    # (JS, args before the token).
    fetch_js: str
    fetch_args: tuple[str, ...]
    # (answer body, cédula) → result or a taxonomy error.
    parse: Callable[[str, str], CensusResult]
    # Hidden fields the page must carry (the canary checks they have a value).
    hidden_fields: tuple[str, ...] = ()


def _consultacenso_request(url: str, method: str, page_url: str) -> bool:
    return method == "POST" and site.CONSULTA_PATH in url


def _same_page_post(url: str, method: str, page_url: str) -> bool:
    return method == "POST" and urlsplit(url).path == urlsplit(page_url).path


def _parse_wsp_body(body: str, cedula: str) -> CensusResult:
    raise_if_blocked(body)
    try:
        payload = json.loads(body)
    except ValueError:
        raise PageChangedError("wsp answer is not JSON") from None
    return parse_wsp(payload, cedula)


ADAPTERS: dict[str, PageAdapter] = {
    CONSULTACENSO: PageAdapter(
        name=CONSULTACENSO,
        ready=site.FORM,
        document_input=site.DOCUMENT_INPUT,
        election_select=site.ELECTION_SELECT,
        elections_path=site.ELECTIONS_PATH,
        election_value=None,
        submit_controls=site.SUBMIT_CONTROLS,
        is_consulta=_consultacenso_request,
        fetch_js=site.CONSULTA_FETCH_JS,
        fetch_args=(site.CONSULTA_PATH, site.DOCUMENT_INPUT, site.ELECTION_SELECT),
        parse=parse_consulta_body,
    ),
    WSP: PageAdapter(
        name=WSP,
        ready=site.WSP_DOCUMENT_INPUT,
        document_input=site.WSP_DOCUMENT_INPUT,
        election_select=site.WSP_ELECTION_SELECT,
        elections_path=None,
        election_value=site.WSP_ELECTION_CURRENT,
        submit_controls=site.WSP_SUBMIT_CONTROLS,
        is_consulta=_same_page_post,
        fetch_js=site.WSP_FETCH_JS,
        fetch_args=(site.WSP_DOCUMENT_INPUT, site.WSP_ELECTION_SELECT, site.WSP_TOKEN_INPUT),
        parse=_parse_wsp_body,
        hidden_fields=(site.WSP_TOKEN_INPUT,),
    ),
}


def adapter_for(name: str) -> PageAdapter:
    try:
        return ADAPTERS[name]
    except KeyError:
        raise ValueError(f"unknown census source {name!r}; known: {sorted(ADAPTERS)}") from None
