"""Locust users for benchmarks/portal.py, logged in with the session the seed printed.

- `Leader`: browses "Mis referidos" (first page, a status filter, a search, a deep page) with
  a person's think time, BENCH_THINK_S seconds on average (default 1).
- `BusyLeader`: the same pages without think time: the server's ceiling (req/s), where latency
  is queueing more than work.
- `Registrar`: opens the create form and posts a new cédula, then thinks like a Leader.

A redirect (to the log-in page: the session did not work) counts as a failure, not as a page.
"""

import itertools
import os
import re

from locust import HttpUser, between, constant, task

PAGES = {
    "list": "/referidos/",
    "list ?status": "/referidos/?status=verified",
    "list ?q": "/referidos/?q=17000012",
    "list ?page=150": "/referidos/?page=150",
}
THINK = float(os.environ.get("BENCH_THINK_S", "1"))
CSRF = re.compile(r'name="csrfmiddlewaretoken" value="([^"]+)"')
# Cédulas nobody has referred yet: a block per run and database, handed out in order.
CEDULAS = itertools.count(int(os.environ.get("BENCH_CEDULA_BASE", "1900000000")))


class LoggedIn(HttpUser):
    abstract = True

    def on_start(self):
        self.client.cookies.set("sessionid", os.environ["BENCH_SESSION"])

    def get(self, name):
        with self.client.get(
            PAGES[name], name=name, allow_redirects=False, catch_response=True
        ) as response:
            if response.status_code != 200:
                response.failure(f"HTTP {response.status_code}")


class Leader(LoggedIn):
    wait_time = between(THINK / 2, THINK * 1.5)

    @task(4)
    def first_page(self):
        self.get("list")

    @task(2)
    def by_status(self):
        self.get("list ?status")

    @task(2)
    def search(self):
        self.get("list ?q")

    @task(1)
    def deep_page(self):
        self.get("list ?page=150")


class BusyLeader(Leader):
    wait_time = constant(0)


class Registrar(LoggedIn):
    wait_time = between(THINK / 2, THINK * 1.5)
    fixed_count = int(os.environ.get("BENCH_REGISTRARS", "5"))

    @task
    def create(self):
        form = self.client.get("/referidos/nuevo/", name="create form", allow_redirects=False)
        token = CSRF.search(form.text)
        if token is None:
            return  # already a failure: not a 200 page with a form
        # The leader attests the person's authorization (required: referrals.forms).
        data = {
            "csrfmiddlewaretoken": token.group(1),
            "cedula": str(next(CEDULAS)),
            "authorized": "on",
        }
        with self.client.post(
            "/referidos/nuevo/",
            data=data,
            name="create POST",
            allow_redirects=False,
            catch_response=True,
        ) as response:
            # 302 to the new referral: saved and published. A 200 is the form again (refused).
            if response.status_code != 302:
                response.failure(f"HTTP {response.status_code}")
