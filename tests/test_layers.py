"""The house's rule, checked: each package imports only the layers below it (docs/ARCHITECTURE.md)."""

from __future__ import annotations

import ast

import pytest

from tests.conftest import ROOT

# package -> the project's packages it may import
ALLOWED = {
    "sextant": {"sextant"},
    "collectors": {"sextant", "collectors"},
    "alerts": {"sextant", "alerts"},
    "actions": {"sextant", "actions"},
    "dashboard": {"sextant", "actions", "dashboard"},
    "pages": {"sextant", "actions", "dashboard"},
}
PROJECT = {"sextant", "collectors", "alerts", "actions", "dashboard", "pages", "demo", "bench", "tests"}
# a module's own exceptions: the collector's process entry runs the alerts at the end of each cycle (the alerts read
# the store the cycle wrote; no collector module imports them)
ALSO = {"collectors/__main__.py": {"alerts"}}


def imports_of(package: str) -> list[tuple[str, str]]:
    found = []
    for path in sorted((ROOT / package).rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                names = [node.module]
            else:
                continue
            found += [(str(path.relative_to(ROOT)), n) for n in names if n.split(".")[0] in PROJECT]
    return found


@pytest.mark.parametrize("package", sorted(ALLOWED))
def test_a_package_imports_only_the_layers_below_it(package):
    wrong = [(path, name) for path, name in imports_of(package)
             if name.split(".")[0] not in ALLOWED[package] | ALSO.get(path, set())]
    assert wrong == [], f"{package} may import only {sorted(ALLOWED[package])}"


def test_pages_hold_no_sql_and_no_boto3():
    for path in sorted((ROOT / "pages").glob("*.py")):
        tree = ast.parse(path.read_text())
        modules = {a.name for n in ast.walk(tree) if isinstance(n, ast.Import) for a in n.names}
        modules |= {n.module for n in ast.walk(tree) if isinstance(n, ast.ImportFrom) and n.module}
        assert not {m for m in modules if m.split(".")[0] in ("boto3", "botocore", "duckdb")}, path.name
        docs = {id(n.value) for n in ast.walk(tree) if isinstance(n, ast.Expr)}  # docstrings and bare strings
        strings = [n.value for n in ast.walk(tree)
                   if isinstance(n, ast.Constant) and isinstance(n.value, str) and id(n) not in docs]
        sql = [s for s in strings if "SELECT " in s.upper() and " FROM " in s.upper()]
        assert sql == [], f"{path.name} holds SQL text: {sql[:1]}"
