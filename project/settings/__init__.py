"""Django settings for cedula-verify, one module per concern.

Every value that differs between machines comes from the environment (django-environ, through
`env.py`); each variable is read in exactly one of these modules, and the README lists each
with its default. Defaults are the embedded, single-machine ones (SQLite in WAL mode, Redis on
localhost). `DEBUG` is off unless asked for: production is the default, and production without
a SECRET_KEY refuses to start.
"""

from .auth import *  # noqa: F403
from .base import *  # noqa: F403
from .campaigns import *  # noqa: F403
from .celery import *  # noqa: F403
from .cutover import *  # noqa: F403
from .database import *  # noqa: F403
from .env import BASE_DIR, DEBUG  # noqa: F401
from .integrations import *  # noqa: F403
from .logging import *  # noqa: F403
from .ops import *  # noqa: F403
from .pipeline import *  # noqa: F403
from .privacy import *  # noqa: F403
from .scraping import *  # noqa: F403
from .security import *  # noqa: F403
