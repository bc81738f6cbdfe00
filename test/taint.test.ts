import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { after, before, describe, it } from 'node:test';
import type { Parser } from 'web-tree-sitter';
import { extractFacts } from '../server/src/engine/facts';
import { scanWorkspace } from '../server/src/engine/index';
import { createPythonParser } from '../server/src/engine/parser';
import {
  computeTaintFacts,
  Flag,
  type FuncSummary,
  type Label,
  type TaintFacts,
} from '../server/src/engine/taint/index';

/**
 * The taint engine: per-function summaries extracted from one file (sources, steps, sinks,
 * calls, returns), and their composition across modules from route inputs to sinks.
 */

let parser: Parser;

before(async () => {
  parser = await createPythonParser();
});

function summarize(src: string): TaintFacts {
  const tree = parser.parse(src);
  if (!tree) throw new Error('no tree');
  try {
    return computeTaintFacts(tree, extractFacts('/tmp/t.py', tree));
  } finally {
    tree.delete();
  }
}

function fn(facts: TaintFacts, q: string): FuncSummary {
  const s = facts.funcs.find((f) => f.q === q);
  assert.ok(s, `no summary for ${q}: ${facts.funcs.map((f) => f.q).join(', ')}`);
  return s;
}

/** Sinks of a function; no summary at all means none. */
function sinksIn(facts: TaintFacts, q: string): FuncSummary['sinks'] {
  return facts.funcs.find((f) => f.q === q)?.sinks ?? [];
}

function sinkLabels(s: FuncSummary, code: string): Label[] {
  return s.sinks.filter((k) => k.code === code).flatMap((k) => k.labels);
}

function messages(l: Label): string[] {
  return l.s.map((x) => x.m);
}

const src = (lines: string[]): string => lines.join('\n') + '\n';

describe('taint summaries: propagation steps', () => {
  it('follows an f-string into a shell call', () => {
    const s = fn(
      summarize(src(['import os', 'def f(host):', '    os.system(f"ping {host}")'])),
      'f',
    );
    const [l] = sinkLabels(s, 'INJ002');
    assert.deepEqual(l.o, { k: 'p', i: 0, n: 'host' });
    assert.ok(messages(l).includes('f-string'));
    assert.ok(l.f & Flag.BUILT);
  });

  it('follows `%` formatting and marks SQL-looking text', () => {
    const s = fn(
      summarize(
        src([
          'def f(cur, name):',
          '    q = "SELECT * FROM users WHERE name = \'%s\'" % name',
          '    cur.execute(q)',
        ]),
      ),
      'f',
    );
    const [l] = sinkLabels(s, 'INJ001');
    assert.equal(l.o.k === 'p' && l.o.n, 'name');
    assert.deepEqual(messages(l), ['`%` formatting', 'assigned to `q`']);
    assert.ok(l.f & Flag.SQLISH);
    assert.equal(s.sinks[0].need, Flag.SQLISH);
  });

  it('follows `.format()` and concatenation', () => {
    const s = fn(
      summarize(
        src([
          'import subprocess',
          'def f(a, b):',
          '    cmd = "tar -czf {} data".format(a)',
          '    subprocess.run(cmd, shell=True)',
          '    subprocess.run("rm -rf " + b, shell=True)',
        ]),
      ),
      'f',
    );
    const labels = sinkLabels(s, 'INJ002');
    assert.deepEqual(
      labels.map((l) => [l.o.k === 'p' ? l.o.n : '?', messages(l)[0]]),
      [
        ['a', '`.format()`'],
        ['b', 'string concatenation'],
      ],
    );
  });

  it('follows lists, dicts, attribute and subscript access', () => {
    const s = fn(
      summarize(
        src([
          'import os',
          'def f(item, data):',
          '    parts = ["echo", item.name]',
          '    opts = {"path": data["file"]}',
          '    os.system(" ".join(parts))',
          '    open(opts["path"])',
        ]),
      ),
      'f',
    );
    const [cmd] = sinkLabels(s, 'INJ002');
    assert.equal(cmd.o.k === 'p' && cmd.o.n, 'item');
    assert.deepEqual(messages(cmd), [
      'attribute `.name`',
      'put in a container',
      'assigned to `parts`',
      '`join()`',
    ]);
    const [p] = sinkLabels(s, 'PATH001');
    assert.equal(p.o.k === 'p' && p.o.n, 'data');
    assert.ok(messages(p).includes('put in a dict'));
    assert.ok(messages(p).some((m) => m.startsWith('subscript')));
  });

  it('forgets taint on reassignment, keeps it through a branch that may not run', () => {
    const s = fn(
      summarize(
        src([
          'import os',
          'def f(x, flag):',
          '    a = x',
          '    a = "ls"',
          '    os.system(a)',
          '    b = "ls"',
          '    if flag:',
          '        b = x',
          '    os.popen(b)',
        ]),
      ),
      'f',
    );
    assert.deepEqual(
      s.sinks.map((k) => k.desc),
      ['`os.popen()`'],
    );
  });

  it('pairs tuple assignments up', () => {
    const s = fn(
      summarize(
        src([
          'import os',
          'def f(x):',
          '    a, b = "ls", x',
          '    os.system(a)',
          '    os.popen(b)',
        ]),
      ),
      'f',
    );
    assert.deepEqual(
      s.sinks.map((k) => k.desc),
      ['`os.popen()`'],
    );
  });

  it('argument lists: only the program counts without a shell', () => {
    const s = fn(
      summarize(
        src([
          'import subprocess',
          'def f(x):',
          '    subprocess.run(["ls", x])',
          '    subprocess.run([x, "-l"])',
          '    subprocess.run(["sh", "-c", x])',
        ]),
      ),
      'f',
    );
    const flags = s.sinks.map((k) => [k.line, k.forbid, k.labels.every((l) => l.f & Flag.TAIL)]);
    assert.deepEqual(flags, [
      [3, Flag.TAIL, true],
      [4, Flag.TAIL, false],
      [5, Flag.TAIL, false],
    ]);
  });
});

describe('taint summaries: sanitizers and guards', () => {
  it('basename, shlex.quote and int() clean their rules', () => {
    const s = fn(
      summarize(
        src([
          'import os, shlex',
          'def f(name, n):',
          '    open(os.path.join("/srv", os.path.basename(name)))',
          '    os.system("cat " + shlex.quote(name))',
          '    os.system(f"head -n {int(n)} log")',
          '    open(shlex.quote(name))',
        ]),
      ),
      'f',
    );
    assert.deepEqual(
      s.sinks.map((k) => [k.code, k.line]),
      [['PATH001', 6]],
    );
  });

  it('a guard clause cleans the checked variable after it, not before', () => {
    const s = fn(
      summarize(
        src([
          'from pathlib import Path',
          'BASE = Path("/srv")',
          'def f(name):',
          '    p = (BASE / name).resolve()',
          '    p.read_text()',
          '    if not p.is_relative_to(BASE):',
          '        raise ValueError(name)',
          '    return p.read_bytes()',
        ]),
      ),
      'f',
    );
    assert.deepEqual(
      s.sinks.map((k) => [k.code, k.line]),
      [['PATH001', 5]],
    );
  });

  it('a time zone lookup validates its key; a swallowed failure does not', () => {
    const s = fn(
      summarize(
        src([
          'from zoneinfo import ZoneInfo',
          'def f(cur, tz, other, raw, key):',
          '    cur.execute(f"SET TIME ZONE \'{ZoneInfo(tz)}\'")',
          '    try:',
          '        ZoneInfo(other)',
          '    except Exception:',
          '        pass',
          '    cur.execute(f"SET TIME ZONE \'{other}\'")',
          '    cur.execute(f"SET TIME ZONE \'{raw}\'")',
          '    ZoneInfo(raw)',
          '    cur.execute(f"SET TIME ZONE \'{raw}\'")',
          '    cur.execute(f"SET TIME ZONE \'{ZoneInfo.from_file(None, key=key)}\'")',
        ]),
      ),
      'f',
    );
    assert.deepEqual(
      s.sinks.map((k) => [k.code, k.line]),
      [
        ['INJ001', 8],
        ['INJ001', 9],
        ['INJ001', 12],
      ],
    );
  });

  it('allow lists and host checks', () => {
    const sinks = sinksIn(
      summarize(
        src([
          'import requests',
          'from urllib.parse import urlparse',
          'ALLOWED = {"a.example.com"}',
          'def f(url, col, cur):',
          '    if urlparse(url).netloc not in ALLOWED:',
          '        return None',
          '    if col not in ("name", "email"):',
          '        raise ValueError()',
          '    cur.execute(f"SELECT {col} FROM t")',
          '    return requests.get(url)',
        ]),
      ),
      'f',
    );
    assert.deepEqual(sinks, []);
  });

  it('bound SQL parameters and SQLAlchemy expressions are not sinks', () => {
    const sinks = sinksIn(
      summarize(
        src([
          'from sqlalchemy import select, text',
          'def f(db, cur, name):',
          '    cur.execute("SELECT * FROM t WHERE n = %s", (name,))',
          '    db.execute(text("SELECT * FROM t WHERE n = :n").bindparams(n=name))',
          '    db.execute(select(User).where(User.name == name))',
        ]),
      ),
      'f',
    );
    assert.deepEqual(sinks, []);
  });

  it('a fixed scheme and host before the value keeps the URL safe', () => {
    const s = fn(
      summarize(
        src([
          'import httpx',
          'def f(user, host):',
          '    httpx.get(f"https://api.github.com/users/{user}")',
          '    httpx.get(f"https://{host}/status")',
        ]),
      ),
      'f',
    );
    assert.deepEqual(
      s.sinks.map((k) => k.line),
      [4],
    );
  });
});

describe('taint summaries: sources, calls, returns', () => {
  it('reads intrinsic request sources', () => {
    const s = fn(
      summarize(
        src([
          'import os',
          'from fastapi import Request, UploadFile',
          'async def f(request: Request, file: UploadFile):',
          '    body = await request.json()',
          '    os.system(body["cmd"])',
          '    os.system(request.headers["x-cmd"])',
          '    open(file.filename)',
        ]),
      ),
      'f',
    );
    assert.deepEqual(
      s.sinks.flatMap((k) => k.labels.map((l) => (l.o.k === 's' ? l.o.kind : l.o.k))),
      ['body', 'headers', 'filename'],
    );
  });

  it('records calls with the provenance of their arguments, and returns', () => {
    const s = fn(
      summarize(
        src([
          'from app.services import files, FileService',
          'def handler(name, svc: FileService):',
          '    path = files.build(name)',
          '    return svc.open(path)',
        ]),
      ),
      'handler',
    );
    assert.equal(s.calls.length, 2);
    const [build, open] = s.calls;
    assert.equal(build.text, 'files.build');
    assert.equal(build.fn.k, 'attr');
    assert.deepEqual(build.args[0][0].o, { k: 'p', i: 0, n: 'name' });
    // The result of the first call flows into the second.
    assert.deepEqual(open.args[0][0].o, { k: 'r', call: 0 });
    assert.deepEqual(s.rets[0].labels[0].o, { k: 'r', call: 1 });
  });

  it('`append` fills a local list; `add` on a service is a call', () => {
    const s = fn(
      summarize(
        src([
          'import os',
          'from app.repos import Repo',
          'def f(x, repo: Repo):',
          '    parts = []',
          '    parts.append(x)',
          '    os.system(" ".join(parts))',
          '    repo.add(x)',
          '    self_check = {}',
        ]),
      ),
      'f',
    );
    assert.deepEqual(
      s.sinks.map((k) => k.desc),
      ['`os.system()`'],
    );
    assert.deepEqual(
      s.calls.map((c) => [c.text, c.args[0][0]?.o]),
      [['repo.add', { k: 'p', i: 0, n: 'x' }]],
    );
  });

  it('rewrites a parameter typed with a class so the method can be resolved', () => {
    const s = fn(
      summarize(
        src([
          'from fastapi import Depends',
          'from app.services import FileService',
          'def handler(name: str, svc: FileService = Depends(FileService)):',
          '    return svc.read(name)',
        ]),
      ),
      'handler',
    );
    const fnExpr = s.calls[0].fn;
    assert.ok(fnExpr.k === 'attr' && fnExpr.obj.k === 'call');
  });

  it('summaries are plain JSON', () => {
    const facts = summarize(
      src([
        'import os',
        'def f(x):',
        '    y = [x, {"a": x}]',
        '    os.system(str(y))',
        '    return y',
      ]),
    );
    assert.deepEqual(JSON.parse(JSON.stringify(facts)), facts);
  });
});

describe('taint across modules', () => {
  let dir: string;
  before(() => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'lens-taint-'));
    const write = (rel: string, text: string): void => {
      fs.mkdirSync(path.dirname(path.join(dir, rel)), { recursive: true });
      fs.writeFileSync(path.join(dir, rel), text);
    };
    write('app/__init__.py', '');
    write('app/api/__init__.py', '');
    write('app/services/__init__.py', '');
    write(
      'app/main.py',
      src([
        'from fastapi import FastAPI',
        'from app.api.routes import router, admin',
        'app = FastAPI()',
        'app.include_router(router)',
        'app.include_router(admin)',
      ]),
    );
    write(
      'app/api/routes.py',
      src([
        'from fastapi import APIRouter, Depends, Request',
        'from fastapi.security import OAuth2PasswordBearer',
        'from app.services import files',
        'oauth2 = OAuth2PasswordBearer(tokenUrl="/token")',
        'router = APIRouter()',
        'admin = APIRouter(prefix="/admin", dependencies=[Depends(oauth2)])',
        '',
        '@router.get("/files/{name}")',
        'def read_file(name: str):',
        '    return files.read_document(name)',
        '',
        '@admin.get("/files/{name}")',
        'def admin_read(name: str):',
        '    return files.read_document(name)',
        '',
        '@admin.get("/logs/{name}")',
        'def read_log(name: str):',
        '    return files.read_log(name)',
        '',
        '@router.get("/grep")',
        'def grep(request: Request):',
        '    return files.grep(request)',
      ]),
    );
    write(
      'app/services/files.py',
      src([
        'import os',
        'DOCS = "/srv/docs"',
        '',
        'def _path(name):',
        '    return os.path.join(DOCS, name)',
        '',
        'def read_document(name):',
        '    with open(_path(name)) as f:',
        '        return f.read()',
        '',
        'def read_log(name):',
        '    return open(f"/var/log/{name}").read()',
        '',
        'def grep(request):',
        '    term = request.query_params["q"]',
        '    return os.popen("grep -r " + term + " /srv/docs").read()',
      ]),
    );
  });
  after(() => fs.rmSync(dir, { recursive: true, force: true }));

  it('follows a request object into a helper that reads it', async () => {
    const { findings } = await scanWorkspace({ roots: [dir], cwd: dir });
    const f = findings.find((x) => x.code === 'INJ002');
    assert.ok(f);
    assert.equal(f.file, 'app/services/files.py');
    assert.equal(f.line, 16);
    assert.match(
      f.message,
      /^The query string \(`request.query_params`\) of `GET \/grep` reaches `os.popen\(\)` in `grep\(\)`/,
    );
    assert.deepEqual(f.flow?.[0], {
      file: 'app/services/files.py',
      line: 15,
      column: 11,
      message: 'the query string (`request.query_params`) read here',
    });
  });

  it('reports at the sink with the route, the exposure and every step', async () => {
    const { findings } = await scanWorkspace({ roots: [dir], cwd: dir });
    const path001 = findings.filter((f) => f.code === 'PATH001');
    assert.deepEqual(
      path001.map((f) => [f.file, f.line, f.severity, f.route?.path]),
      [
        // Reached from a public and an authenticated route: once, for the public one.
        ['app/services/files.py', 8, 'error', '/files/{name}'],
        // Only behind authentication: one level lower.
        ['app/services/files.py', 12, 'warning', '/admin/logs/{name}'],
      ],
    );
    const f = path001[0];
    assert.match(f.message, /^Path parameter `name` of `GET \/files\/\{name\}` reaches `open\(\)`/);
    assert.deepEqual(
      f.flow?.map((s) => [s.file, s.line, s.message]),
      [
        [
          'app/api/routes.py',
          9,
          'path parameter `name` of `GET /files/{name}` enters `read_file()`',
        ],
        ['app/api/routes.py', 10, 'passed to `files.read_document()` as `name`'],
        ['app/services/files.py', 8, 'passed to `_path()` as `name`'],
        ['app/services/files.py', 5, 'through `os.path.join()`'],
        ['app/services/files.py', 5, 'returned'],
        ['app/services/files.py', 8, 'returned by `_path()`'],
        ['app/services/files.py', 8, 'reaches `open()`'],
      ],
    );
  });
});
