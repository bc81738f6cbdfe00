#!/usr/bin/env python3
"""Send one anonymous request to every HTTP route of a real FastAPI app (the runtime oracle).

Usage:
    /usr/bin/python3 test/oracle/runtime_check.py <project_root> <module:attr>

The project root (and <project_root>/src when it exists) is put first on sys.path and the
process changes into the project root, then `module` is imported and `attr` (dotted attributes
allowed) is read from it. When the object is an `APIRouter` rather than an application it is
included into a bare `FastAPI()` first. Run it on a copy of the project: handlers do run.

For each HTTP route (sub-applications mounted with `app.mount` are walked, their routes
requested through the parent so that its middleware applies) and each of its methods, the
request is made with `fastapi.testclient.TestClient(app, raise_server_exceptions=False)`:
path parameters filled with "1", no query string, no body, no headers or cookies beyond what
the test client sends by itself. FastAPI's own documentation routes and websockets are skipped.

Output: {"routes": [...]}, one entry per (route, method), in registration order:

    {"method": "GET", "path": "/items/{item_id}", "url": "/items/1", "status": 401,
     "rejected": true, "why": "401"}

* `rejected` is true when FastAPI refused the anonymous caller:
  - the status is 401 or 403, or
  - the status is 422 and at least one of the validation errors is a missing (`field required`)
    header or cookie parameter declared by one of the route's dependencies (not by the endpoint
    function itself): a dependency that needs a credential in a header or cookie
    (`x_token: str = Header()`) never runs without it, so the handler is never reached. Errors
    about the endpoint's own parameters or body do not count.
  `why` is "401", "403", "422 missing header x-token" / "422 missing cookie session", or null.
* For a 5xx response `error` holds the exception and the innermost frame of the project's code
  (`module:function`), found by repeating the request with server exceptions raised.
"""

from __future__ import annotations

import json
import os
import re
import sys
import traceback
from typing import Any, Dict, List, Optional, Set, Tuple

# Never leave __pycache__ folders behind.
sys.dont_write_bytecode = True

# Imports the app as the inventory oracle does (same path set-up; script folder is on sys.path).
from dump_routes import _load  # noqa: E402

PARAM = re.compile(r"\{[^{}]*\}")


def _docs_paths(app: Any) -> Set[str]:
    paths = set()
    for attr in ("openapi_url", "docs_url", "swagger_ui_oauth2_redirect_url", "redoc_url"):
        value = getattr(app, attr, None)
        if value:
            paths.add(value)
    return paths


def _credential_params(dependant: Any, top: bool = True) -> Set[Tuple[str, str]]:
    """(location, alias) of the header and cookie parameters declared by sub-dependencies."""
    found: Set[Tuple[str, str]] = set()
    if not top:
        for field in getattr(dependant, "header_params", []) or []:
            found.add(("header", field.alias))
        for field in getattr(dependant, "cookie_params", []) or []:
            found.add(("cookie", field.alias))
    for sub in getattr(dependant, "dependencies", []) or []:
        found |= _credential_params(sub, top=False)
    return found


def _walk(app: Any, prefix: str, out: List[Tuple[str, Any]]) -> None:
    from fastapi import FastAPI
    from starlette.routing import Mount, Route

    docs = _docs_paths(app) if isinstance(app, FastAPI) else set()
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
            if isinstance(route.app, FastAPI):
                _walk(route.app, prefix + path, out)
            continue
        if isinstance(route, Route):
            out.append((prefix + path, route))


def _why_rejected(status: int, body: Any, credentials: Set[Tuple[str, str]]) -> Optional[str]:
    if status in (401, 403):
        return str(status)
    if status != 422 or not isinstance(body, dict):
        return None
    for err in body.get("detail") or []:
        if not isinstance(err, dict):
            continue
        loc = err.get("loc") or []
        missing = err.get("type") == "value_error.missing"
        if missing and len(loc) >= 2 and (loc[0], loc[1]) in credentials:
            return f"422 missing {loc[0]} {loc[1]}"
    return None


def _where(client_cls: Any, app: Any, method: str, url: str, root: str) -> str:
    """The exception of a 5xx and the innermost frame in the project's code."""
    try:
        client_cls(app, raise_server_exceptions=True).request(method, url)
    except Exception as exc:  # noqa: BLE001 - reporting any handler error is the point
        where = "?"
        for frame in traceback.extract_tb(exc.__traceback__):
            if os.path.realpath(frame.filename).startswith(root):
                rel = os.path.relpath(frame.filename, root)
                where = f"{rel}:{frame.lineno} in {frame.name}"
        return f"{type(exc).__name__}: {exc} (at {where})"
    return "no exception on retry"


def main(argv: List[str]) -> int:
    if len(argv) != 2:
        print(__doc__, file=sys.stderr)
        return 2
    root = os.path.realpath(argv[0])
    obj = _load(root, argv[1])

    from fastapi import APIRouter, FastAPI
    from fastapi.testclient import TestClient

    if isinstance(obj, APIRouter):
        app = FastAPI()
        app.include_router(obj)
    else:
        app = obj
    routes: List[Tuple[str, Any]] = []
    _walk(app, "", routes)
    client = TestClient(app, raise_server_exceptions=False)
    results: List[Dict[str, Any]] = []
    for path, route in routes:
        dependant = getattr(route, "dependant", None)
        credentials = _credential_params(dependant) if dependant is not None else set()
        url = PARAM.sub("1", path)
        for method in sorted(route.methods or []):
            if method == "HEAD" and "GET" in (route.methods or []):
                continue  # Starlette adds HEAD to GET routes; the GET request says it all
            response = client.request(method, url)
            try:
                body = response.json()
            except ValueError:
                body = None
            why = _why_rejected(response.status_code, body, credentials)
            entry: Dict[str, Any] = {
                "method": method,
                "path": path,
                "url": url,
                "status": response.status_code,
                "rejected": why is not None,
                "why": why,
            }
            if response.status_code >= 500:
                entry["error"] = _where(TestClient, app, method, url, root + os.sep)
            results.append(entry)
    json.dump({"routes": results}, sys.stdout, indent=2)
    sys.stdout.write("\n")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
