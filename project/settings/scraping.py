"""The census client's settings: one `ScrapingConfig`, the product's only copy of them.

`scraping` is Django-free and reads its own variables (REGISTRADURIA_URL, CAPTCHA_*,
SCRAPING_BROWSER_*, SCRAPING_PROXY, SCRAPING_LIMITER_KEY ...) in `ScrapingConfig.from_env`, the
one reader of those names; the product takes them from here, as `settings.SCRAPING`, never
from the environment again. Its `limiter_key` names the egress address: workers with the same
key share one polite rate and one circuit breaker.
"""

import os

from django.core.exceptions import ImproperlyConfigured

from scraping.config import ScrapingConfig

from .env import DEBUG

SCRAPING = ScrapingConfig.from_env(os.environ)
# Outside DEBUG the solver's API key never travels in clear unless CAPTCHA_API_ALLOW_HTTP says so.
if not DEBUG and (problem := SCRAPING.solver_url_problem()):
    raise ImproperlyConfigured(problem)
