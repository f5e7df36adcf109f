"""Launching Chromium (Playwright or patchright) and measuring its process tree.

Playwright's sync API runs its own event loop in the calling thread, and a thread can hold only
one such driver: clients in the same thread share it (reference-counted here).
"""

from __future__ import annotations

import contextlib
import importlib
import os
import re
import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

import psutil

from scraping.config import ScrapingConfig

SYSTEM_CHROMIUM = "/usr/bin/chromium"
# Debian's build of the same Chromium without the desktop browser around it: far cheaper to
# launch, and easier for a bot check to tell apart, so never production's default. The tests
# drive it where the browser is not what they test (tests/browsers.py).
HEADLESS_SHELL = "/usr/bin/chromium-headless-shell"
# Flags that keep Chromium quiet and less "automated"-looking. Without the network ones it
# phones home (component updates, sync), which fails in locked-down containers.
CHROMIUM_ARGS = (
    "--disable-blink-features=AutomationControlled",
    "--disable-background-networking",
    "--disable-component-update",
    "--no-first-run",
    "--disable-sync",
    "--disable-gpu",
    "--disable-dev-shm-usage",
)
VIEWPORTS = ({"width": 1366, "height": 768}, {"width": 1536, "height": 864})


@dataclass(frozen=True)
class Driver:
    """The automation library in use and its exception classes (patchright has its own)."""

    name: str
    module: Any  # playwright.sync_api or patchright.sync_api
    Error: type[Exception]
    TimeoutError: type[Exception]


def load_driver(name: str) -> Driver:
    # patchright is an optional extra: import it only when asked for.
    module = importlib.import_module(f"{name}.sync_api")
    return Driver(name, module, module.Error, module.TimeoutError)


_local = threading.local()


def acquire_playwright(driver: Driver) -> Any:
    """The thread's running Playwright instance for `driver`, started on first use."""
    drivers: dict[str, list[Any]] = _local.__dict__.setdefault("drivers", {})
    entry = drivers.get(driver.name)
    if entry is None:
        entry = drivers[driver.name] = [driver.module.sync_playwright().start(), 0]
    entry[1] += 1
    return entry[0]


def release_playwright(driver: Driver, *, force: bool = False) -> None:
    """Drop one reference; stop the driver process when nobody in the thread uses it.
    `force` stops it regardless (its connection is dead; the next acquire starts a new one)."""
    drivers: dict[str, list[Any]] = _local.__dict__.setdefault("drivers", {})
    entry = drivers.get(driver.name)
    if entry is None:
        return
    entry[1] -= 1
    if entry[1] <= 0 or force:
        del drivers[driver.name]
        with contextlib.suppress(Exception):  # a dead driver cannot be stopped more
            entry[0].stop()


def executable_path(playwright: Any, config: ScrapingConfig) -> str | None:
    """SCRAPING_BROWSER_PATH, else Playwright's own Chromium, else the system one."""
    if config.browser_path:
        return config.browser_path
    try:
        own = playwright.chromium.executable_path
    except Exception:
        own = ""
    if own and os.path.exists(own):
        return None  # let Playwright use its own build
    return SYSTEM_CHROMIUM if os.path.exists(SYSTEM_CHROMIUM) else None


def chromium_args() -> list[str]:
    """CHROMIUM_ARGS, and --no-sandbox where we run as root: Chromium refuses to start its
    sandbox as root."""
    return [*CHROMIUM_ARGS, "--no-sandbox"] if os.geteuid() == 0 else list(CHROMIUM_ARGS)


def launch_options(playwright: Any, config: ScrapingConfig) -> dict[str, Any]:
    options: dict[str, Any] = {
        "headless": config.headless,
        "args": chromium_args(),
        "timeout": config.navigation_timeout * 1000,
    }
    path = executable_path(playwright, config)
    if path:
        options["executable_path"] = path
    if config.proxy:
        options["proxy"] = proxy_settings(config.proxy)
    return options


def proxy_settings(url: str) -> dict[str, str]:
    parts = urlsplit(url)
    server = f"{parts.scheme or 'http'}://{parts.hostname}" + (
        f":{parts.port}" if parts.port else ""
    )
    proxy = {"server": server}
    if parts.username:
        proxy["username"] = parts.username
        proxy["password"] = parts.password or ""
    return proxy


def user_agent_for(browser_version: str) -> str:
    """A desktop Chrome UA for the real browser version — never 'HeadlessChrome'. Linux, to
    agree with navigator.platform and the fonts the machine really has."""
    major = re.match(r"\d+", browser_version)
    version = f"{major.group(0) if major else '130'}.0.0.0"
    return (
        "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) "
        f"Chrome/{version} Safari/537.36"
    )


def chromium_pids() -> set[int]:
    """Chromium *browser* processes (not renderers) among this process's descendants."""
    pids = set()
    for proc in psutil.Process().children(recursive=True):
        try:
            if "chrom" in proc.name().lower() and not any(
                a.startswith("--type=") for a in proc.cmdline()
            ):
                pids.add(proc.pid)
        except (psutil.NoSuchProcess, psutil.AccessDenied):
            continue
    return pids


def tree_pss(pid: int | None) -> int:
    """PSS in bytes of `pid` and all its descendants (0 when it is gone): shared pages divided
    among the processes sharing them, so the sum is what the tree really costs the machine
    (what relaunch decisions go by). Reading it (smaps) takes a few ms per process."""
    return _tree_sum(pid, lambda proc: proc.memory_full_info().pss)


def tree_rss(pid: int | None) -> int:
    """RSS in bytes of `pid` and all its descendants (0 when it is gone). Shared pages count
    once per process, so this overstates real use."""
    return _tree_sum(pid, lambda proc: proc.memory_info().rss)


def _tree_sum(pid: int | None, measure: Callable[[psutil.Process], int]) -> int:
    if pid is None:
        return 0
    try:
        root = psutil.Process(pid)
        procs = [root, *root.children(recursive=True)]
    except psutil.NoSuchProcess:
        return 0
    total = 0
    for proc in procs:
        try:
            total += measure(proc)
        except (psutil.NoSuchProcess, psutil.AccessDenied):
            continue
    return total
