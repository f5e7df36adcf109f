"""Production settings pass Django's deploy checks with no warning, refuse to start without a
SECRET_KEY, and no secret is committed."""

import os
import re
import secrets
import subprocess

from tests.procs import ROOT, run_manage

# Variables the test run sets (pyproject's pytest env) that production would not have.
TEST_ONLY = ("SECURE_SSL_REDIRECT", "SECURE_COOKIES", "STATIC_MANIFEST", "AXES_ENABLED")


def production_env(**overrides):
    env = {k: v for k, v in os.environ.items() if k not in TEST_ONLY and k != "SECRET_KEY"}
    env.pop("DJANGO_SETTINGS_MODULE", None)
    env.update(
        DEBUG="0",
        SECRET_KEY=secrets.token_urlsafe(64),
        ALLOWED_HOSTS="cedula.example.org",
        LOG_LEVEL="WARNING",
        ADMINS="oncall@cedula.example.org",  # a channel for alerts (ops.W001 otherwise)
    )
    env.update(overrides)
    return {k: v for k, v in env.items() if v is not None}


def manage(*args, env):
    return run_manage(*args, env=env, timeout=60)


def setting_in_production(name: str, **overrides) -> str:
    """The value of setting `name` as a production process reads it, printed."""
    env = production_env(DJANGO_SETTINGS_MODULE="project.settings", **overrides)
    code = f"from django.conf import settings; print(settings.{name})"
    result = manage("shell", "--no-imports", "-c", code, env=env)
    assert result.returncode == 0, result.stderr
    return result.stdout.strip()


def test_check_deploy_passes_without_warnings():
    result = manage("check", "--deploy", "--fail-level", "WARNING", env=production_env())
    assert result.returncode == 0, result.stdout + result.stderr
    assert "no issues" in result.stdout
    assert "WARNINGS" not in result.stdout + result.stderr


def test_start_up_says_when_no_alert_channel_is_configured():
    result = manage("check", env=production_env(ADMINS=None, ALERT_URLS=None))
    assert "ops.W001" in result.stderr + result.stdout
    assert "reach nobody" in result.stderr + result.stdout


def test_debug_off_without_secret_key_refuses_to_start():
    result = manage("check", env=production_env(SECRET_KEY=None))
    assert result.returncode != 0
    assert "ImproperlyConfigured" in result.stderr
    assert "SECRET_KEY is not set" in result.stderr


def test_axes_is_on_in_production():
    assert setting_in_production("AXES_ENABLED") == "True"


# --- no committed secrets --------------------------------------------------------------------

# Empty, an obvious placeholder, a variable reference ($X, ${X:?...}) or a test/demo value.
PLACEHOLDER = re.compile(
    r"^(|change-?me.*|x+|<.*>|[$?].*|(test|demo|dummy|insecure|example)[-_].*)$", re.I
)
SECRET_ASSIGNMENT = re.compile(
    r"""(?P<name>SECRET_KEY|[A-Z_]*API_KEY|[A-Z_]*TOKEN|[A-Z_]*PASSWORD|SENTRY_DSN)
        [ \t]*[=:][ \t]*["']?(?P<value>[^\s"'#,}]*)""",
    re.X,
)
PRIVATE_KEY = re.compile(r"-----BEGIN (?:RSA |EC |OPENSSH |DSA |ENCRYPTED )?PRIVATE KEY-----")
URL_PASSWORD = re.compile(r"[a-z+]+://[^/\s:@]+:(?P<value>[^@\s/]+)@")
KNOWN_TOKENS = re.compile(
    r"AKIA[0-9A-Z]{16}|gh[pousr]_[A-Za-z0-9]{36}|xox[baprs]-[A-Za-z0-9-]{10,}|"
    r"sk-[A-Za-z0-9]{32,}|AIza[0-9A-Za-z_-]{35}"
)
# Files where an assignment is code or a test fixture rather than configuration.
CODE_SUFFIXES = (".py", ".md", ".lock", ".po", ".mo", ".html", ".js", ".css", ".svg", ".png")


def tracked_files():
    out = subprocess.run(
        ["git", "ls-files", "-z"], cwd=ROOT, capture_output=True, check=True
    ).stdout
    return [name for name in out.decode().split("\0") if name]


def test_no_secrets_are_committed():
    findings = []
    for name in tracked_files():
        path = ROOT / name
        if not path.is_file() or path.stat().st_size > 2_000_000:
            continue
        text = path.read_bytes().decode("utf-8", "replace")
        if PRIVATE_KEY.search(text):
            findings.append(f"{name}: private key")
        for match in KNOWN_TOKENS.finditer(text):
            findings.append(f"{name}: token {match.group(0)[:8]}…")
        if name.endswith(CODE_SUFFIXES):
            continue
        for match in URL_PASSWORD.finditer(text):
            if not PLACEHOLDER.match(match.group("value")):
                findings.append(f"{name}: password in a URL")
        for match in SECRET_ASSIGNMENT.finditer(text):
            value = match.group("value")
            if not PLACEHOLDER.match(value):
                findings.append(f"{name}: {match.group('name')}={value[:4]}…")
    assert not findings, findings


def test_the_scan_catches_what_it_should(tmp_path):
    text = "SECRET_KEY=6x!f2k9Lq0zR\nCAPTCHA_API_KEY=0123456789abcdef\n"
    assert [m.group("name") for m in SECRET_ASSIGNMENT.finditer(text)] == [
        "SECRET_KEY",
        "CAPTCHA_API_KEY",
    ]
    assert all(not PLACEHOLDER.match(m.group("value")) for m in SECRET_ASSIGNMENT.finditer(text))
    assert PLACEHOLDER.match("change-me-to-a-long-random-string")
    assert PRIVATE_KEY.search("-----BEGIN OPENSSH " + "PRIVATE KEY-----")  # split: not a key
    assert URL_PASSWORD.search("postgres://cedula:s3cr3t@db:5432/cedula")
    assert PLACEHOLDER.match("${POSTGRES_PASSWORD:?set POSTGRES_PASSWORD in .env}")


# --- placeholders and the proxy header (issue 21, item 2) -------------------------------------


def env_example() -> dict:
    lines = (ROOT / ".env.example").read_text().splitlines()
    return dict(line.split("=", 1) for line in lines if "=" in line and not line.startswith("#"))


def test_the_secret_key_of_env_example_is_refused_outside_debug():
    result = manage("check", env=production_env(SECRET_KEY=env_example()["SECRET_KEY"]))
    assert result.returncode != 0
    assert "SECRET_KEY is empty or still the placeholder" in result.stderr


def test_an_empty_secret_key_is_refused_outside_debug():
    result = manage("check", env=production_env(SECRET_KEY=""))
    assert result.returncode != 0
    assert "SECRET_KEY is empty or still the placeholder" in result.stderr


def test_the_database_password_of_env_example_is_refused_outside_debug():
    password = env_example()["POSTGRES_PASSWORD"]
    url = f"postgres://cedula:{password}@127.0.0.1:5432/cedula"
    result = manage("check", env=production_env(DATABASE_URL=url))
    assert result.returncode != 0
    assert "DATABASE_URL's password (POSTGRES_PASSWORD in docker compose)" in result.stderr


def test_placeholders_are_accepted_in_debug():
    example = env_example()
    result = manage("check", env=production_env(DEBUG="1", SECRET_KEY=example["SECRET_KEY"]))
    assert result.returncode == 0, result.stderr


def proxy_header(**overrides) -> str:
    return setting_in_production("SECURE_PROXY_SSL_HEADER", **overrides)


def test_the_proxy_ssl_header_is_trusted_only_when_a_proxy_is_configured():
    assert proxy_header(TRUSTED_PROXY_COUNT=None) == "None"
    assert proxy_header(TRUSTED_PROXY_COUNT="1") == "('HTTP_X_FORWARDED_PROTO', 'https')"
    result = manage(
        "check", "--deploy", "--fail-level", "WARNING", env=production_env(TRUSTED_PROXY_COUNT="1")
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_without_a_proxy_a_forged_forwarded_proto_is_not_https(client, settings, db):
    settings.SECURE_SSL_REDIRECT = True
    response = client.get("/cuenta/entrar/", HTTP_X_FORWARDED_PROTO="https")
    assert response.status_code == 301
    assert response["Location"].startswith("https://")
    # Health probes answer over plain HTTP inside the network (compose's healthcheck).
    assert client.get("/healthz").status_code == 200
