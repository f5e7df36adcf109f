"""The Chromium the tests drive where the browser itself is not under test.

Production scrapes with Debian's full `chromium` in its new headless mode, the browser the
site's bot checks see as a desktop Chrome. The tests whose subject is that browser drive it:
the strict mode of the simulator (what a bot check sees of it, tests/scraping) and `make demo`'s
test (the stack as deployed); its memory over 2,000 lookups is the scraper benchmark's.

The rest need *a* real Chromium, not that one: `chromium-headless-shell` is Debian's build of
the same Chromium version (same Blink, same V8) without the desktop browser around it. A launch
and its first lookup take 0.71 CPU-s against 1.55 for the full browser, and each further lookup
0.20 against 0.31 (`make bench BENCH_ARGS=browsers`). The suite launches a browser in almost
every worker, portal and scraping test, on a two-core machine: this was about a minute and a
half of `make test`. Without the package (`bin/ensure-chromium --tests` installs it), the tests
fall back to the full browser.
"""

from __future__ import annotations

import os

from scraping.browser import HEADLESS_SHELL, SYSTEM_CHROMIUM, chromium_args

TEST_BROWSER = HEADLESS_SHELL if os.access(HEADLESS_SHELL, os.X_OK) else SYSTEM_CHROMIUM

# The census clients tests/scraping keeps from one test to the next, on the test thread.
_kept_open: set = set()


def keep_open(client):
    """Note that `client`, kept across tests, has (or is about to have) a browser open on this
    thread (tests/scraping: `as_fresh_visitor`)."""
    _kept_open.add(client)
    return client


def close_kept_browsers() -> None:
    """Close the browsers the scraping tests keep on this thread; each launches again when one
    of those tests next uses it. Playwright's sync API marks an event loop as running on the
    thread that started it for as long as its driver lives, and Django refuses ORM calls on
    such a thread (SynchronousOnlyOperation): a test that uses the database calls this first
    (tests/conftest.py)."""
    while _kept_open:
        _kept_open.pop().close()


def launch_portal_browser(playwright):
    """A headless Chromium for a test that uses the portal as a person would, with the
    scraper's own flags."""
    return playwright.chromium.launch(
        executable_path=TEST_BROWSER, headless=True, args=chromium_args()
    )
