"""The import direction between the apps, checked on the source.

ocpp_gateway -> billing -> stations -> evpower, and `ocpp16` (OCPP itself)
below all of them. billing and stations reach a station only through the
gateway's door (`ocpp_gateway.commands`, with live presence and the gateway
settings), which itself imports nothing of billing or stations. evpower's
urls and asgi wire the apps together and are the only exceptions."""

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
OURS = ("ocpp16", "evpower", "stations", "billing", "ocpp_gateway", "audit", "simulator")
DOOR = {"ocpp_gateway.commands", "ocpp_gateway.presence", "ocpp_gateway.conf"}
WIRING = {"evpower.urls", "evpower.asgi", "evpower.settings"}
# What each app may import of the others (besides itself and ocpp16).
ALLOWED = {
    "ocpp16": set(),
    "evpower": set(),
    "stations": {"evpower"},
    "billing": {"evpower", "stations"},
    "ocpp_gateway": {"evpower", "stations", "billing"},
    # The audit trail's history tables, for models of the apps below it.
    "audit": {"evpower", "stations", "billing"},
    "simulator": set(),
}


def _modules() -> dict[str, Path]:
    found = {}
    for package in OURS:
        for path in (ROOT / package).rglob("*.py"):
            if "migrations" in path.parts:
                continue
            name = ".".join(path.relative_to(ROOT).with_suffix("").parts).removesuffix(".__init__")
            found[name] = path
    return found


MODULES = _modules()


def _imports(path: Path) -> list[tuple[str, bool]]:
    """(imported module, at module level?) for each import of ours."""
    tree = ast.parse(path.read_text())
    top_level = {id(node) for node in tree.body}
    result = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            # `from a import b`: module a.b if there is one, else a name in a.
            names = [f"{node.module}.{alias.name}" for alias in node.names]
        else:
            continue
        for name in names:
            if name.split(".")[0] in OURS:
                result.append((name, id(node) in top_level))
    return result


def _target(name: str) -> str | None:
    """The module of ours that an imported name denotes (a module, or a name in one)."""
    while name and name not in MODULES:
        name = name.rpartition(".")[0]
    return name or None


def _edges() -> list[tuple[str, str, bool]]:
    edges = []
    for module, path in MODULES.items():
        for name, top in _imports(path):
            target = _target(name)
            if target is not None and target != module:
                edges.append((module, target, top))
    return edges


EDGES = _edges()


def test_the_walk_sees_the_known_imports():
    # Guards the test itself: were the walk broken, every rule below would pass.
    assert ("ocpp_gateway.chargepoint", "billing.transactions", True) in EDGES
    assert ("billing.sessions", "ocpp_gateway.commands", True) in EDGES


@pytest.mark.parametrize("app", sorted(ALLOWED))
def test_apps_import_only_downwards(app):
    wrong = []
    for module, target, _ in EDGES:
        source_app, target_app = module.split(".")[0], target.split(".")[0]
        if source_app != app or target_app in (app, "ocpp16") or module in WIRING:
            continue
        if target_app in ALLOWED[app] or target in DOOR:
            continue
        wrong.append(f"{module} -> {target}")
    assert wrong == []


def test_the_door_imports_nothing_of_billing_or_stations():
    seen, queue = set(), list(DOOR)
    while queue:
        module = queue.pop()
        if module in seen:
            continue
        seen.add(module)
        queue += [target for source, target, _ in EDGES if source == module]
    assert sorted(m for m in seen if m.split(".")[0] in ("billing", "stations")) == []


def test_no_import_of_ours_is_hidden_inside_a_function():
    hidden = [f"{module} -> {target}" for module, target, top in EDGES if not top]
    assert hidden == []
