#!/usr/bin/env python3
"""Sanity-check hand-written expected.json files against the sources and real FastAPI.

Usage:
    /usr/bin/python3 test/oracle/check_expected.py [case_dir ...]

Without arguments every folder of test/fixtures/routes/ that holds an expected.json is checked,
plus examples/shop-api (expected-routes.json). For each case:

* every entry has the contract's keys and values of the right kind;
* `line` points at the registration: a decorator line (`@...`) whose decorated function is
  `function`, or a call (`add_api_route`, `app.get("/p")(handler)`, `mount`, ...) that names it;
* when the case has an oracle.json, real FastAPI's routes (test/oracle/dump_routes.py --extra)
  must equal the expected ones, compared as a multiset of
  (methods, path, kind, function, hidden, deprecated).

Exit status 1 when anything disagrees. This is a helper for writing fixtures, not a test.
"""

from __future__ import annotations

import collections
import json
import os
import re
import subprocess
import sys
from typing import Any, Dict, List

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(os.path.dirname(HERE))
DUMP = os.path.join(HERE, "dump_routes.py")

KEYS = {
    "methods": list,
    "path": str,
    "kind": str,
    "file": str,
    "line": int,
    "exposure": str,
    "auth": list,
    "hidden": bool,
    "deprecated": bool,
}
EXPOSURES = {"public", "authenticated", "scoped", "middleware", "unknown"}
LEVELS = {"app", "mount", "include", "router", "decorator", "parameter", "middleware"}
LEVEL_ORDER = ["app", "mount", "include", "router", "decorator", "parameter", "middleware"]
DEF_RE = re.compile(r"^\s*(?:async\s+)?def\s+(\w+)")


def _decorated_function(lines: List[str], index: int) -> str | None:
    """Name of the function defined under the decorator that starts at lines[index]."""
    depth = 0
    for i in range(index, len(lines)):
        text = lines[i]
        if depth == 0 and i > index:
            match = DEF_RE.match(text)
            if match:
                return match.group(1)
        depth += text.count("(") + text.count("[") - text.count(")") - text.count("]")
    return None


def check_entry(root: str, entry: Dict[str, Any], where: str, errors: List[str]) -> None:
    for key, kind in KEYS.items():
        if not isinstance(entry.get(key), kind):
            errors.append(f"{where}: {key} missing or not {kind.__name__}")
    if "function" not in entry or "conditional" not in entry:
        errors.append(f"{where}: function/conditional missing")
    if entry.get("exposure") not in EXPOSURES:
        errors.append(f"{where}: bad exposure {entry.get('exposure')}")
    if entry.get("methods") != sorted(entry.get("methods", [])):
        errors.append(f"{where}: methods not sorted")
    if entry.get("kind") in ("websocket", "mount") and entry.get("methods"):
        errors.append(f"{where}: {entry['kind']} must have methods []")
    last = -1
    for auth in entry.get("auth", []):
        if auth.get("level") not in LEVELS:
            errors.append(f"{where}: bad auth level {auth.get('level')}")
            continue
        order = LEVEL_ORDER.index(auth["level"])
        if order < last:
            errors.append(f"{where}: auth levels out of order")
        last = order
        for key in ("dependency", "enforcing", "scopes"):
            if key not in auth:
                errors.append(f"{where}: auth entry without {key}")
    path = os.path.join(root, entry.get("file", ""))
    if not os.path.isfile(path):
        errors.append(f"{where}: no file {entry.get('file')}")
        return
    with open(path, encoding="utf-8") as handle:
        lines = handle.read().split("\n")
    line = entry.get("line", 0)
    if not 1 <= line <= len(lines):
        errors.append(f"{where}: line {line} out of range")
        return
    text = lines[line - 1].strip()
    function = entry.get("function")
    if text.startswith("@"):
        found = _decorated_function(lines, line - 1)
        if found != function:
            errors.append(f"{where}: decorator at line {line} decorates {found}, not {function}")
    elif entry.get("kind") == "mount":
        if ".mount(" not in text:
            errors.append(f"{where}: line {line} is not a mount call: {text}")
    else:
        calls = ("add_api_route(", "add_api_websocket_route(", "add_route(", "add_websocket_route(", ")(")
        if not any(call in text for call in calls):
            errors.append(f"{where}: line {line} is not a decorator or registration call: {text}")
        elif function is None or function not in text:
            # A multi-line call may name the handler on a later line.
            window = " ".join(lines[line - 1 : line + 4])
            if function is None or function not in window:
                errors.append(f"{where}: line {line} does not register {function}: {text}")


def _key(route: Dict[str, Any]) -> tuple:
    return (
        tuple(route["methods"]),
        route["path"],
        route["kind"],
        route.get("function"),
        bool(route.get("hidden")),
        bool(route.get("deprecated")),
    )


def check_case(root: str, expected_name: str) -> List[str]:
    errors: List[str] = []
    with open(os.path.join(root, expected_name), encoding="utf-8") as handle:
        expected = json.load(handle)["routes"]
    for i, entry in enumerate(expected):
        check_entry(root, entry, f"{os.path.basename(root)}[{i}] {entry.get('path')}", errors)
    oracle_file = os.path.join(root, "oracle.json")
    if os.path.isfile(oracle_file):
        with open(oracle_file, encoding="utf-8") as handle:
            target = json.load(handle)["app"]
        result = subprocess.run(
            ["/usr/bin/python3", DUMP, root, target, "--extra"],
            capture_output=True,
            text=True,
            check=False,
        )
        if result.returncode != 0:
            errors.append(f"{os.path.basename(root)}: oracle failed: {result.stderr.strip()}")
        else:
            actual = json.loads(result.stdout)["routes"]
            want = collections.Counter(_key(r) for r in expected)
            got = collections.Counter(_key(r) for r in actual)
            for key in want - got:
                errors.append(f"{os.path.basename(root)}: expected but not in FastAPI: {key}")
            for key in got - want:
                errors.append(f"{os.path.basename(root)}: in FastAPI but not expected: {key}")
    return errors


def main(argv: List[str]) -> int:
    cases = []
    if argv:
        cases = [os.path.abspath(a) for a in argv]
    else:
        base = os.path.join(REPO, "test", "fixtures", "routes")
        cases = sorted(
            os.path.join(base, d)
            for d in os.listdir(base)
            if os.path.isfile(os.path.join(base, d, "expected.json"))
        )
        cases.append(os.path.join(REPO, "examples", "shop-api"))
    failed = 0
    for case in cases:
        name = "expected.json"
        if not os.path.isfile(os.path.join(case, name)):
            name = "expected-routes.json"
        errors = check_case(case, name)
        status = "ok" if not errors else "FAIL"
        oracle = "oracle" if os.path.isfile(os.path.join(case, "oracle.json")) else "no oracle"
        print(f"{status:4} {os.path.relpath(case, REPO)} ({oracle})")
        for error in errors:
            print(f"     {error}")
        failed += bool(errors)
    print(f"{len(cases) - failed} passed, {failed} failed")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
