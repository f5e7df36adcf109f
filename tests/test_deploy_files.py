"""The compose file parses and runs the processes the README promises."""

from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parent.parent


def test_compose_file_has_the_stack():
    compose = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
    services = compose["services"]
    processes = ("web", "worker-scraping", "worker-default", "worker-captcha", "beat", "flower")
    for name in (*processes, "redis", "postgres"):
        assert name in services, name
    assert "-Q scraping -c 1" in services["worker-scraping"]["command"]
    assert "-Q default" in services["worker-default"]["command"]
    assert "-Q captcha -P threads" in services["worker-captcha"]["command"]
    assert "gunicorn" in services["web"]["command"]
    for name in ("web", "redis", "postgres"):
        assert "healthcheck" in services[name]


def test_procfile_runs_the_same_processes():
    procs = dict(
        line.split(":", 1)
        for line in (ROOT / "Procfile").read_text().splitlines()
        if line and not line.startswith("#")
    )
    assert {
        "web",
        "worker-scraping",
        "worker-default",
        "worker-captcha",
        "beat",
        "flower",
        "simulator",
    } <= set(procs)
    assert "-Q captcha -P threads" in procs["worker-captcha"]
    assert "-Q scraping -c 1" in procs["worker-scraping"]


def test_workers_and_beat_are_supervised():
    # A worker that exits is started again; a hung one fails its ping and shows unhealthy
    # (Docker does not restart unhealthy containers: the stale sweep's queue-stalled alert
    # catches a scraping worker that stopped taking work).
    services = yaml.safe_load((ROOT / "docker-compose.yml").read_text())["services"]
    for name in ("worker-scraping", "worker-default", "worker-captcha", "beat"):
        assert services[name]["restart"] == "unless-stopped", name
    for name in ("worker-scraping", "worker-default"):
        assert "inspect ping" in " ".join(services[name]["healthcheck"]["test"]), name


def test_only_the_tls_proxy_publishes_ports_and_on_localhost_by_default():
    services = yaml.safe_load((ROOT / "docker-compose.yml").read_text())["services"]
    published = {name: s["ports"] for name, s in services.items() if s.get("ports")}
    assert set(published) == {"proxy"}
    for port in published["proxy"]:
        assert port.startswith("${PROXY_BIND_ADDRESS:-127.0.0.1}:"), port
    assert {p.rsplit(":", 1)[1] for p in published["proxy"]} == {"80", "443", "5555"}
    # The web believes the proxy's headers; Flower listens inside the private network only.
    assert services["web"]["environment"]["TRUSTED_PROXY_COUNT"] == "1"
    assert "--address=0.0.0.0" in services["flower"]["command"]
    caddyfile = (ROOT / "deploy" / "Caddyfile").read_text()
    assert "reverse_proxy web:8000" in caddyfile
    assert "reverse_proxy flower:5555" in caddyfile
    assert "./deploy/Caddyfile:/etc/caddy/Caddyfile:ro" in services["proxy"]["volumes"]
