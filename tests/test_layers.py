"""The product's layers: imports point one way, no module imports the tasks module, no circles.

Every `import` statement of every product module counts, including the ones inside functions
(a circle hidden in a function is still a circle: it only breaks later, at run time).
"""

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
# Product packages, from the bottom up (docs/ARCHITECTURE.md draws them).
PRODUCT = (
    "scraping",
    "project",
    "privacy",
    "campaigns",
    "accounts",
    "referrals",
    "webhooks",
    "pipeline",
    "ops",
    "api",
)
TASKS = "pipeline.tasks"
# The narrow doors between layers: the portal publishes work only through pipeline.dispatch;
# the pipeline raises alerts through ops.alerts (and reads ops.models for delivery).
ALLOWED_UPWARD = {
    "referrals": {"pipeline.dispatch"},
    "webhooks": {"pipeline.dispatch"},  # deliveries are published like verifications
    "pipeline": {"ops.alerts", "ops.models"},
    "project": {"pipeline.dispatch", "ops.urls"},  # settings name the tasks; URLs mount ops
}
# campaigns (people: roles, teams, invitations, goals) sits under the accounts' sign-up and the
# referrals it scopes, and knows nothing of either.
LAYER = {
    "scraping": 0,
    "project": 1,
    # privacy (the data policy, its acceptances, the audit log) sits beside campaigns: the
    # people's writes (roles, team moves) and every layer above record into its audit log.
    "privacy": 2,
    "campaigns": 2,
    "accounts": 3,
    "referrals": 3,
    "webhooks": 3,  # endpoints, events, signatures: beside the portal's domain, below the pipeline
    "pipeline": 4,
    "ops": 5,
    "api": 5,  # the REST API and the Integraciones page: over the domain, like the portal's views
}


def layer(module: str) -> int:
    return 6 if module == TASKS else LAYER[module.split(".")[0]]  # the tasks sit on top


def product_modules() -> dict[str, Path]:
    modules = {}
    for package in PRODUCT:
        for path in (ROOT / package).rglob("*.py"):
            if "migrations" in path.parts:
                continue
            parts = list(path.relative_to(ROOT).with_suffix("").parts)
            if parts[-1] == "__init__":
                parts.pop()
            modules[".".join(parts)] = path
    return modules


MODULES = product_modules()


def _resolve(name: str) -> str | None:
    """The product module an import name lands in (the longest known prefix)."""
    parts = name.split(".")
    while parts:
        candidate = ".".join(parts)
        if candidate in MODULES:
            return candidate
        parts.pop()
    return None


def imports_of(module: str) -> set[str]:
    path = MODULES[module]
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    found = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            targets = [_resolve(alias.name) for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join([*anchor, base] if base else anchor)
            # `from pkg import mod` lands in the module pkg.mod; `from mod import name` in mod.
            targets = [
                f"{base}.{alias.name}" if f"{base}.{alias.name}" in MODULES else _resolve(base)
                for alias in node.names
            ]
        else:
            continue
        found.update(t for t in targets if t and t != module)
    return found


GRAPH = {module: imports_of(module) for module in MODULES}


def find_cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components with more than one module (Tarjan)."""
    index, low, stack, on_stack, cycles = {}, {}, [], set(), []
    counter = [0]

    def visit(v):
        index[v] = low[v] = counter[0]
        counter[0] += 1
        stack.append(v)
        on_stack.add(v)
        for w in graph.get(v, ()):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1 or v in graph.get(v, ()):
                cycles.append(sorted(component))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return cycles


def test_the_checker_sees_imports_inside_functions_and_finds_a_circle():
    # The checker itself must be able to fail: a made-up pair of modules importing each other,
    # one of them only inside a function.
    assert find_cycles({"a": {"b"}, "b": {"a"}, "c": {"a"}}) == [["a", "b"]]
    assert "pipeline.dispatch" in GRAPH["referrals.services"]
    assert "project.celery" in GRAPH["pipeline.dispatch"]  # imported inside send()


def test_no_import_circle_among_product_modules():
    assert find_cycles(GRAPH) == []


def test_no_product_module_imports_the_tasks_module():
    importers = sorted(m for m, targets in GRAPH.items() if TASKS in targets)
    assert importers == [], "publish through pipeline.dispatch, by task name"


@pytest.mark.parametrize("module", sorted(MODULES))
def test_imports_point_down_the_layers(module):
    allowed = ALLOWED_UPWARD.get(module.split(".")[0], set())
    upward = {t for t in GRAPH[module] if layer(t) > layer(module) and t not in allowed}
    assert not upward, f"{module} imports from a layer above it: {sorted(upward)}"


def test_scraping_is_django_free_and_knows_nothing_of_the_product():
    for module, path in MODULES.items():
        if not module.startswith("scraping"):
            continue
        text = path.read_text()
        assert "import django" not in text and "from django" not in text, path
        assert all(t.startswith("scraping") for t in GRAPH[module]), (module, GRAPH[module])


NOT_PRODUCT = ("simulator", "harness")  # test and demo tools: nothing in the product uses them


def test_the_simulator_and_the_process_harness_are_not_product_code():
    for module, path in MODULES.items():
        tree = ast.parse(path.read_text())
        for node in ast.walk(tree):
            if isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom) and not node.level:
                names = [node.module or ""]
            else:
                continue
            tops = {n.split(".")[0] for n in names}
            assert not tops & set(NOT_PRODUCT), module


def test_sending_by_name_puts_no_time_limits_in_the_message(redis):
    # Task.apply_async would copy this process's idea of the lookup's limits into the message,
    # where they win over the worker's; dispatch sends by name, so the worker's own apply.
    import json

    from pipeline import dispatch, tasks
    from project.celery import app

    # Registered and finalised here, with limits of its own: Celery 5.7's send_task would copy
    # them into the message unless dispatch clears them.
    app.finalize(auto=True)
    assert app.tasks[dispatch.VERIFY_REFERRAL].time_limit == tasks.verify_referral.time_limit
    assert tasks.verify_referral.time_limit
    dispatch.publish_verification(12345)
    (raw,) = redis.lrange(dispatch.Queue.SCRAPING, 0, -1)
    headers = json.loads(raw)["headers"]
    assert headers["task"] == dispatch.VERIFY_REFERRAL
    assert headers["timelimit"] == [None, None]
