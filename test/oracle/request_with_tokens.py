#!/usr/bin/env python3
"""Send requests, with or without a bearer JWT, to a real FastAPI app (test/fix-runtime.test.ts).

Usage:
    /usr/bin/python3 test/oracle/request_with_tokens.py < spec.json

The spec (JSON on stdin):

    {"project": "/tmp/copy", "app": "app.main:app",
     "env": {"JWT_SECRET_KEY": "..."}, "unset": ["OTHER_VAR"],
     "requests": [
       {"method": "GET", "path": "/notes/1"},
       {"method": "GET", "path": "/notes/1",
        "token": {"key": "...", "algorithm": "HS256", "claims": {"sub": "alice"}, "exp_in": 600}},
       {"method": "GET", "path": "/notes/1", "raw_token": "not-a-jwt"}
     ]}

`env` is set and `unset` removed from the environment before the app is imported (the
project's own code reads its secret from there). The project root is put first on sys.path and
the process changes into it. A `token` is minted here with PyJWT: `claims`, plus
`exp = now + exp_in` when `exp_in` is given, signed with `key` and `algorithm`. Requests go
through `fastapi.testclient.TestClient(app, raise_server_exceptions=False)`, in order, with
`Authorization: Bearer <token>` when a token is given.

Output: {"answers": [{"status": 200, "body": "..."}, ...]}, one per request. Handlers run, so
use a copy of the project.
"""

from __future__ import annotations

import importlib
import json
import os
import sys
import time
from typing import Any, Dict, List

sys.dont_write_bytecode = True


def _token(spec: Dict[str, Any]) -> str:
    import jwt

    claims = dict(spec.get("claims") or {})
    if spec.get("exp_in") is not None:
        claims["exp"] = int(time.time()) + int(spec["exp_in"])
    token = jwt.encode(claims, spec["key"], algorithm=spec["algorithm"])
    # PyJWT 1.x returns bytes.
    return token.decode() if isinstance(token, bytes) else token


def main() -> None:
    spec = json.load(sys.stdin)
    for name in spec.get("unset") or []:
        os.environ.pop(name, None)
    os.environ.update(spec.get("env") or {})
    root = spec["project"]
    sys.path.insert(0, root)
    os.chdir(root)
    module_name, _, attr = spec["app"].partition(":")
    app: Any = importlib.import_module(module_name)
    for part in attr.split("."):
        app = getattr(app, part)

    from fastapi.testclient import TestClient

    client = TestClient(app, raise_server_exceptions=False)
    answers: List[Dict[str, Any]] = []
    for request in spec["requests"]:
        headers = {}
        if request.get("token") is not None:
            headers["Authorization"] = f"Bearer {_token(request['token'])}"
        elif request.get("raw_token") is not None:
            headers["Authorization"] = f"Bearer {request['raw_token']}"
        response = client.request(request["method"], request["path"], headers=headers)
        answers.append({"status": response.status_code, "body": response.text[:500]})
    print(json.dumps({"answers": answers}))


if __name__ == "__main__":
    main()
