"""`make demo`, exactly as the README gives it, with nothing in the environment but ports and a
private database and Redis: every process of the stack (web, three workers, beat, Flower, the
simulator) comes up, Flower asks for a password, and a referral gets verified against the
bundled simulator."""

import contextlib
import os
import signal
import subprocess
import urllib.request

import pytest
from django.conf import settings

from tests.procs import ROOT, free_port, run_manage, wait_for

pytestmark = [pytest.mark.slow, pytest.mark.worker]

# Lines the stack's processes print once they serve (each worker prints "<name>@host ready.").
READY_LINES = (
    "Starting development server",
    "beat: Starting",
    "Visit me at",
    "census simulator on",
)
WORKERS = ("scraping", "default", "captcha")


def manage(env, code: str) -> str:
    run = run_manage("shell", "-c", code, env=env, timeout=60)
    assert run.returncode == 0, run.stderr
    return run.stdout.strip().splitlines()[-1]  # what the code printed, after any log lines


def test_make_demo_runs_the_whole_stack_and_verifies_a_referral(tmp_path, redis):
    # This test process's own Redis database (emptied before and after by the `redis` fixture):
    # a fixed one (db 10) was another parallel process's, whose tests then failed.
    redis_url = settings.REDIS_URL
    web, flower, sim = free_port(), free_port(), free_port()
    # Only what a developer's shell would have: no SECRET_KEY, no DEBUG, nothing from pytest.
    env = {k: v for k, v in os.environ.items() if k in ("PATH", "HOME", "LANG", "TERM")}
    env |= {
        "WEB_PORT": str(web),
        "FLOWER_PORT": str(flower),
        "SIMULATOR_PORT": str(sim),
        "SIMULATOR_WSP_PORT": str(free_port()),  # the wsp form's own port (a second source)
        "SIMULATOR_SOLVE_DELAY": "2",
        "REDIS_URL": redis_url,
        "DATABASE_URL": f"sqlite:///{tmp_path / 'demo.sqlite3'}",
        "SCRAPING_HUMAN_PAUSES": "0",
        "CAPTCHA_POLL_INTERVAL": "0.5",
    }
    log_path = ROOT / "test-artifacts" / "make-demo.log"
    log_path.parent.mkdir(exist_ok=True)
    with open(log_path, "wb") as log:
        stack = subprocess.Popen(
            ["make", "demo"],
            cwd=ROOT,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    try:

        def all_up():
            assert stack.poll() is None, f"make demo exited; see {log_path}"
            lines = log_path.read_text(errors="replace").splitlines()
            workers = [w for w in WORKERS if any(f"{w}@" in x and " ready." in x for x in lines)]
            return workers == list(WORKERS) and all(
                any(ready in x for x in lines) for ready in READY_LINES
            )

        wait_for(all_up, timeout=120, interval=1, message=f"the whole stack (see {log_path})")
        with urllib.request.urlopen(f"http://127.0.0.1:{web}/readyz", timeout=10) as answer:
            assert answer.status == 200
        request = urllib.request.Request(f"http://127.0.0.1:{flower}/")
        with pytest.raises(urllib.error.HTTPError) as refused:
            urllib.request.urlopen(request, timeout=10)
        assert refused.value.code == 401  # Flower is behind basic auth, even in the demo

        shell_env = env | {"DEBUG": "1"}
        referral_id = manage(
            shell_env,
            "from django.contrib.auth.models import User; from referrals import services; "
            "u = User.objects.create_user('demo', password='clave-segura-123'); "
            "print(services.create_referral(user=u, cedula='1.020.304.050', "
            "authorization=services.authorization('attested', by=u)).pk)",
        )

        def status():
            return manage(
                shell_env,
                f"from referrals.models import Referral; "
                f"print(Referral.objects.get(pk={referral_id}).status)",
            )

        wait_for(lambda: status() == "verified", timeout=90, interval=2, message="verified")
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(stack.pid, signal.SIGTERM)
        try:
            stack.wait(30)
        except subprocess.TimeoutExpired:
            os.killpg(stack.pid, signal.SIGKILL)
            stack.wait(10)
