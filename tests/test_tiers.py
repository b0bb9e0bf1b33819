"""The test tiers: every marker pyproject declares is used, and the slow marker sits where the
fast tier (``pytest -m "not slow"``) would otherwise start servers or clusters."""

from __future__ import annotations

import ast
import re
import tomllib

from tests.conftest import REPO

# What only the slow tier may start: a test that calls one, or takes a fixture that does, is
# marked slow (the fast tier needs nothing beside the repo).
STARTERS = ("postgres_server(", "redis_server(", "ray.init(", '"dev", "-w"', "sync_playwright(")


def _tests() -> dict[str, str]:
    return {p.name: p.read_text() for p in sorted((REPO / "tests").glob("test_*.py"))}


def test_every_declared_marker_is_used():
    config = tomllib.loads((REPO / "pyproject.toml").read_text())["tool"]["pytest"]
    declared = {m.split(":")[0].strip() for m in config["ini_options"]["markers"]}
    used = set()
    for text in _tests().values():
        used |= set(re.findall(r"pytest\.mark\.(\w+)", text))
    builtin = {"parametrize", "skip", "skipif", "xfail", "usefixtures", "filterwarnings"}
    assert declared, "no markers declared"
    assert declared <= used, f"declared but never used: {sorted(declared - used)}"
    assert used - builtin <= declared, f"used but not declared: {sorted(used - builtin - declared)}"


def _is_slow(node: ast.AST, text: str) -> bool:
    return any("slow" in ast.get_source_segment(text, d) for d in node.decorator_list)


def test_tests_that_start_services_are_slow():
    checked = 0
    for name, text in _tests().items():
        if name == "test_tiers.py":
            continue
        tree = ast.parse(text)
        module_slow = any(
            isinstance(n, ast.Assign)
            and any(getattr(t, "id", "") == "pytestmark" for t in n.targets)
            and "slow" in ast.get_source_segment(text, n)
            for n in tree.body
        )
        funcs = [n for n in ast.walk(tree) if isinstance(n, ast.FunctionDef)]
        starting = {
            n.name for n in funcs if any(s in ast.get_source_segment(text, n) for s in STARTERS)
        }
        for _ in range(3):  # fixtures that take a starting fixture start it too
            starting |= {n.name for n in funcs if {a.arg for a in n.args.args} & starting}
        for n in funcs:
            if n.name.startswith("test_") and n.name in starting:
                checked += 1
                assert module_slow or _is_slow(n, text), f"{name}::{n.name} starts a service"
    assert checked >= 5  # the PostgreSQL, Celery, Ray, dagster dev and browser tests
