"""`python -m project.ready`: one clear line once the local stack serves (make run / make demo).

Waits for the portal's /readyz and Flower's port, prints where everything is, then stays idle
(honcho stops the whole stack when any of its processes exits).
"""

import os
import signal
import socket
import sys
import time
import urllib.request

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "project.settings")


def _serving(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=2) as response:  # noqa: S310 (loopback, our URL)
            return response.status == 200
    except OSError:
        return False


def _listening(port: int) -> bool:
    with socket.socket() as sock:
        sock.settimeout(1)
        return sock.connect_ex(("127.0.0.1", port)) == 0


def main() -> None:
    from django.conf import settings

    web, flower = settings.WEB_PORT, settings.FLOWER_PORT
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline:
        if _serving(f"http://127.0.0.1:{web}/readyz") and _listening(flower):
            break
        time.sleep(1)
    else:
        print("stack not ready after 300 s: see the lines above", flush=True)
    user = (settings.FLOWER_BASIC_AUTH or "ops:ops (DEBUG)").split(":")[0]
    print(
        f"Ready · Portal: http://127.0.0.1:{web}/ · Ops: http://127.0.0.1:{web}/ops/ · "
        f"Flower: http://127.0.0.1:{flower}/ (user: {user}) · "
        "staff user: make superuser",
        flush=True,
    )
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    while True:
        signal.pause()


if __name__ == "__main__":
    main()
