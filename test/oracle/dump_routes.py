#!/usr/bin/env python3
"""Dump the routes that real FastAPI builds for an app, as JSON (the test oracle).

Usage:
    /usr/bin/python3 test/oracle/dump_routes.py <project_root> <module:attr> [--extra]

The project root (and <project_root>/src when it exists) is put first on sys.path and the
process changes into the project root (so `StaticFiles(directory="static")` resolves), then
`module` is imported and `attr` (dotted attributes allowed) is read from it.

Output: {"routes": [...]}, one entry per route of `app.routes`, in registration order:

    {"methods": ["GET"], "path": "/api/items/{item_id}", "kind": "http",
     "function": "read_item", "dependencies": [{"callable": "...", "children": [...]}]}

* `kind` is "http" for APIRoute / starlette Route, "websocket" for (API)WebSocketRoute and
  "mount" for a Mount whose app is not a FastAPI application (StaticFiles, a Starlette app...).
  A mounted FastAPI sub-application is walked recursively instead, its routes listed with the
  mount path prefixed (the mount itself gets no entry).
* `methods` is sorted; websocket and mount entries have []. For an APIRoute, FastAPI 0.92 keeps
  exactly the declared methods (no implicit HEAD). A plain starlette Route (app.add_route)
  gets HEAD added by Starlette for GET; it is kept as Starlette reports it.
* `function` is the endpoint's __name__ (null for mounts).
* `dependencies` is route.dependant's tree: route-level `dependencies=[...]` first (as FastAPI
  inserts them), then the parameters'. `callable` is
    - `module:qualname` for a function, method or class defined in the project,
    - `module:ClassName()` for an instance of a project class (the class's module),
    - `Name` / `Name()` for a function or class / an instance from anything installed
      (fastapi, starlette, ...), e.g. `OAuth2PasswordBearer()`.
  Websocket routes of FastAPI 0.92 only carry their parameters' dependencies (router, include
  and app-level dependencies are not applied to websockets in that version); starlette routes
  and mounts have [].
* FastAPI's own documentation routes (`openapi_url`, `docs_url`, `swagger_ui_oauth2_redirect_url`
  and `redoc_url` of each application, mounted sub-apps included) are skipped: the user did not
  declare them, so a static analyser must not report them.

With --extra each route also gets `name`, `hidden` (not include_in_schema) and `deprecated`,
which helps when writing expected.json by hand.
"""

from __future__ import annotations

import importlib
import inspect
import json
import os
import sys
from typing import Any, Dict, List, Optional

# Never leave __pycache__ folders behind in the fixtures.
sys.dont_write_bytecode = True


def _setup_path(root: str) -> None:
    src = os.path.join(root, "src")
    if os.path.isdir(src):
        sys.path.insert(0, src)
    sys.path.insert(0, root)
    os.chdir(root)


def _load(root: str, target: str) -> Any:
    module_name, _, attr = target.partition(":")
    if not module_name or not attr:
        raise SystemExit(f"expected <module:attr>, got {target!r}")
    _setup_path(root)
    obj: Any = importlib.import_module(module_name)
    for part in attr.split("."):
        obj = getattr(obj, part)
    return obj


class Namer:
    """Turns dependency callables into the canonical ids described in the module docstring."""

    def __init__(self, root: str) -> None:
        self.root = os.path.realpath(root) + os.sep

    def _in_project(self, module_name: Optional[str]) -> bool:
        if not module_name:
            return False
        module = sys.modules.get(module_name)
        path = getattr(module, "__file__", None)
        if not path:
            return False
        return os.path.realpath(path).startswith(self.root)

    def name(self, obj: Any) -> str:
        if inspect.ismethod(obj):
            # Bound method: name it after the function it wraps (Class.method).
            obj = obj.__func__
        if inspect.isfunction(obj) or inspect.isclass(obj) or inspect.isbuiltin(obj):
            module = getattr(obj, "__module__", None)
            qualname = getattr(obj, "__qualname__", None) or getattr(obj, "__name__", "?")
            if self._in_project(module):
                return f"{module}:{qualname}"
            return getattr(obj, "__name__", qualname)
        cls = type(obj)
        if self._in_project(cls.__module__):
            return f"{cls.__module__}:{cls.__qualname__}()"
        return f"{cls.__name__}()"


def _dependency_tree(dependant: Any, namer: Namer) -> List[Dict[str, Any]]:
    nodes = []
    for sub in getattr(dependant, "dependencies", None) or []:
        nodes.append(
            {"callable": namer.name(sub.call), "children": _dependency_tree(sub, namer)}
        )
    return nodes


def _docs_paths(app: Any) -> set:
    paths = set()
    for attr in ("openapi_url", "docs_url", "swagger_ui_oauth2_redirect_url", "redoc_url"):
        value = getattr(app, attr, None)
        if value:
            paths.add(value)
    return paths


def _is_fastapi(obj: Any) -> bool:
    from fastapi import FastAPI

    return isinstance(obj, FastAPI)


def _walk(app: Any, prefix: str, namer: Namer, extra: bool, out: List[Dict[str, Any]]) -> None:
    from starlette.routing import Mount, Route, WebSocketRoute

    docs = _docs_paths(app) if _is_fastapi(app) else set()
    for route in app.routes:
        path = getattr(route, "path", "")
        endpoint = getattr(route, "endpoint", None)
        if (
            path in docs
            and endpoint is not None
            and getattr(endpoint, "__module__", "") == "fastapi.applications"
        ):
            continue
        if isinstance(route, Mount):
            if _is_fastapi(route.app):
                _walk(route.app, prefix + path, namer, extra, out)
                continue
            entry: Dict[str, Any] = {
                "methods": [],
                "path": prefix + path,
                "kind": "mount",
                "function": None,
                "dependencies": [],
            }
            if extra:
                entry.update(name=route.name, hidden=False, deprecated=False)
            out.append(entry)
            continue
        if isinstance(route, WebSocketRoute):
            kind, methods = "websocket", []
        elif isinstance(route, Route):
            kind, methods = "http", sorted(route.methods or [])
        else:
            # Host, or a custom BaseRoute: report it as a mount-like entry so it is not lost.
            kind, methods = "mount", []
        dependant = getattr(route, "dependant", None)
        entry = {
            "methods": methods,
            "path": prefix + path,
            "kind": kind,
            "function": getattr(endpoint, "__name__", None) if endpoint is not None else None,
            "dependencies": _dependency_tree(dependant, namer) if dependant is not None else [],
        }
        if extra:
            entry.update(
                name=getattr(route, "name", None),
                hidden=not getattr(route, "include_in_schema", True),
                deprecated=bool(getattr(route, "deprecated", False)),
            )
        out.append(entry)


def main(argv: List[str]) -> int:
    args = [a for a in argv if not a.startswith("--")]
    extra = "--extra" in argv
    if len(args) != 2:
        print(__doc__, file=sys.stderr)
        return 2
    root = os.path.abspath(args[0])
    namer = Namer(root)
    app = _load(root, args[1])
    routes: List[Dict[str, Any]] = []
    _walk(app, "", namer, extra, routes)
    json.dump({"routes": routes}, sys.stdout, indent=2)
    sys.stdout.write("\n")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
