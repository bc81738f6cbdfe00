import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { after, describe, it } from 'node:test';
import type { Finding, TextEdit } from '../server/src/engine/findings';
import { scanWorkspace, type Analysis } from '../server/src/engine/index';
import {
  addToDependencies,
  applyEdits,
  fixesForFinding,
  ignoreFix,
  markPublicFix,
  planImports,
  projectAuthStyle,
  scaffoldModuleText,
  type CodeFix,
  type FixContext,
} from '../server/src/engine/fixes/index';
import {
  applyInsertions,
  defParameters,
  insertIntoSequence,
  PySource,
} from '../server/src/engine/fixes/pyText';

/**
 * Unit tests of the pure fix generators: import planning and merging, parameter insertion,
 * the project's auth style (Annotated alias first), `dependencies=[...]` merging, router
 * protection, the scaffolded auth module, and the comment fixes. Every generated file is
 * checked with Python's own parser. Then every fix of the fixture projects is applied: it
 * parses, deletes no line, removes its finding, adds none and is not offered again.
 */

const PYTHON = fs.existsSync('/usr/bin/python3') ? '/usr/bin/python3' : 'python3';

function assertParses(text: string, what = 'edited file'): void {
  try {
    execFileSync(PYTHON, ['-c', 'import ast, sys; ast.parse(sys.stdin.read())'], {
      input: text,
      stdio: ['pipe', 'pipe', 'pipe'],
    });
  } catch (err) {
    const stderr = (err as { stderr?: Buffer }).stderr?.toString() ?? String(err);
    assert.fail(`${what} does not parse:\n${stderr}\n---\n${text}`);
  }
}

/** `small` is `big` with characters inserted (no character removed). */
function isSubsequence(small: string, big: string): boolean {
  let i = 0;
  for (const ch of big) if (i < small.length && ch === small[i]) i++;
  return i === small.length;
}

/**
 * Every line of `before` survives in `after`, in order, possibly with text inserted into it.
 * Lines in `rewritten` (1-based) are rewritten in place by a replacing edit and not matched.
 */
function assertKeepsLines(
  before: string,
  after: string,
  what: string,
  rewritten = new Set<number>(),
): void {
  const next = after.split(/\r?\n/);
  let j = 0;
  for (const [i, line] of before.split(/\r?\n/).entries()) {
    if (rewritten.has(i + 1)) continue;
    while (j < next.length && !isSubsequence(line, next[j])) j++;
    assert.ok(j < next.length, `${what} deleted or reordered the line ${JSON.stringify(line)}`);
    j++;
  }
}

const tmpRoots: string[] = [];
after(() => {
  for (const d of tmpRoots) fs.rmSync(d, { recursive: true, force: true });
});

interface Project {
  dir: string;
  analysis: Analysis;
  findings: Finding[];
  ctx: FixContext;
  read(rel: string): string;
}

async function project(files: Record<string, string>): Promise<Project> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'lens-fixes-'));
  tmpRoots.push(dir);
  for (const [rel, text] of Object.entries(files)) {
    fs.mkdirSync(path.dirname(path.join(dir, rel)), { recursive: true });
    fs.writeFileSync(path.join(dir, rel), text);
  }
  const { analysis, findings } = await scanWorkspace({ roots: [dir], cwd: dir });
  return {
    dir,
    analysis,
    findings,
    ctx: {
      analysis,
      sourceOf: (abs) => (fs.existsSync(abs) ? fs.readFileSync(abs, 'utf8') : null),
      exists: (abs) => fs.existsSync(abs),
    },
    read: (rel) => fs.readFileSync(path.join(dir, rel), 'utf8'),
  };
}

/** The text of each file a fix touches, after applying it. */
function applied(p: Project, fix: CodeFix): Map<string, string> {
  const out = new Map<string, string>();
  const byFile = new Map<string, TextEdit[]>();
  for (const e of fix.edits) byFile.set(e.file, [...(byFile.get(e.file) ?? []), e]);
  for (const [file, edits] of byFile)
    out.set(path.relative(p.dir, file), applyEdits(fs.readFileSync(file, 'utf8'), edits));
  for (const c of fix.creates) out.set(path.relative(p.dir, c.file), c.text);
  return out;
}

function fixOf(p: Project, code: string, file: string, kind: CodeFix['kind']): CodeFix {
  const finding = p.findings.find((f) => f.code === code && f.file === file);
  assert.ok(
    finding,
    `no ${code} in ${file}: ${p.findings.map((f) => `${f.code}@${f.file}:${f.line}`).join(', ')}`,
  );
  const fix = fixesForFinding(p.ctx, finding).find((f) => f.kind === kind);
  assert.ok(fix, `no ${kind} fix for ${code} in ${file}`);
  return fix;
}

const APP = 'app/__init__.py';

describe('import planning', () => {
  const ctx = {
    module: 'app.api.items',
    isPackage: false,
    isLocal: (m: string) => m.startsWith('app'),
  };
  const plan = (
    text: string,
    reqs: { module: string; name: string }[],
    defined = new Set<string>(),
  ) => {
    const p = planImports(text, ctx, reqs, defined);
    return { ...p, text: applyInsertions(text, p.insertions) };
  };

  it('merges a name into an existing sorted `from fastapi import` line', () => {
    const r = plan('from fastapi import APIRouter, FastAPI\n\nrouter = APIRouter()\n', [
      { module: 'fastapi', name: 'Depends' },
    ]);
    assert.equal(
      r.text,
      'from fastapi import APIRouter, Depends, FastAPI\n\nrouter = APIRouter()\n',
    );
    assert.equal(r.refs.get('fastapi:Depends'), 'Depends');
  });

  it('appends to an unsorted list and to a parenthesized one-per-line list', () => {
    const r1 = plan('from fastapi import status, APIRouter\n', [
      { module: 'fastapi', name: 'Depends' },
    ]);
    assert.equal(r1.text, 'from fastapi import status, APIRouter, Depends\n');
    const r2 = plan('from fastapi import (\n    APIRouter,\n    HTTPException,\n)\n', [
      { module: 'fastapi', name: 'Depends' },
    ]);
    assert.equal(
      r2.text,
      'from fastapi import (\n    APIRouter,\n    Depends,\n    HTTPException,\n)\n',
    );
    const r3 = plan('from fastapi import (\n    APIRouter,\n    HTTPException\n)\n', [
      { module: 'fastapi', name: 'Security' },
    ]);
    assertParses(r3.text);
    assert.match(r3.text, /HTTPException,\n {4}Security,\n\)/);
  });

  it('reuses existing bindings: the name, an alias, the module, a relative import', () => {
    const r1 = plan('from fastapi import Depends as D\n', [{ module: 'fastapi', name: 'Depends' }]);
    assert.equal(r1.insertions.length, 0);
    assert.equal(r1.refs.get('fastapi:Depends'), 'D');
    const r2 = plan('from app.api import deps\n', [
      { module: 'app.api.deps', name: 'get_current_user' },
    ]);
    assert.equal(r2.insertions.length, 0);
    assert.equal(r2.refs.get('app.api.deps:get_current_user'), 'deps.get_current_user');
    const r3 = plan('from .deps import get_current_user\n', [
      { module: 'app.api.deps', name: 'get_current_user' },
    ]);
    assert.equal(r3.insertions.length, 0);
    const r4 = plan('import app.api.deps\n', [{ module: 'app.api.deps', name: 'CurrentUser' }]);
    assert.equal(r4.refs.get('app.api.deps:CurrentUser'), 'app.api.deps.CurrentUser');
  });

  it('places new imports in their isort section, after a docstring when there are none', () => {
    const src =
      'import os\n\nfrom fastapi import APIRouter\n\nfrom app.models import Item\n\nx = 1\n';
    const r = plan(src, [
      { module: 'typing', name: 'Annotated' },
      { module: 'app.api.deps', name: 'CurrentUser' },
      { module: 'fastapi', name: 'Depends' },
    ]);
    assert.equal(
      r.text,
      'import os\nfrom typing import Annotated\n\nfrom fastapi import APIRouter, Depends\n\nfrom app.models import Item\nfrom app.api.deps import CurrentUser\n\nx = 1\n',
    );
    const doc = plan('"""Module docstring."""\n\nx = 1\n', [
      { module: 'fastapi', name: 'Depends' },
    ]);
    assert.equal(doc.text, '"""Module docstring."""\n\nfrom fastapi import Depends\n\nx = 1\n');
    assertParses(doc.text);
  });

  it('reports a clash with a name defined in the file', () => {
    const r = plan(
      'def get_current_user():\n    pass\n',
      [{ module: 'app.auth', name: 'get_current_user' }],
      new Set(['get_current_user']),
    );
    assert.ok(r.conflict);
  });

  it('keeps CRLF line endings', () => {
    const r = plan('import os\r\nx = 1\r\n', [{ module: 'fastapi', name: 'Depends' }]);
    assert.equal(r.text, 'import os\r\n\r\nfrom fastapi import Depends\r\nx = 1\r\n');
  });
});

describe('parameter insertion', () => {
  const add = (text: string, name: string, param: string, index: (n: number) => number) => {
    const src = new PySource(text);
    const seq = defParameters(src, 1, name);
    assert.ok(seq);
    return applyInsertions(text, insertIntoSequence(src, seq, index(seq.items.length), param));
  };
  it('keeps single-line and one-per-line layouts', () => {
    assert.equal(
      add('def f(a, b=1):\n    pass\n', 'f', 'u: U', () => 1),
      'def f(a, u: U, b=1):\n    pass\n',
    );
    assert.equal(
      add('def f():\n    pass\n', 'f', 'u: U', () => 0),
      'def f(u: U):\n    pass\n',
    );
    assert.equal(
      add('def f(\n    a,\n    b=1,\n):\n    pass\n', 'f', 'u=Depends(g)', (n) => n),
      'def f(\n    a,\n    b=1,\n    u=Depends(g),\n):\n    pass\n',
    );
    const noComma = add(
      'def f(\n    a,\n    b=1  # note\n):\n    pass\n',
      'f',
      'u=Depends(g)',
      (n) => n,
    );
    assertParses(noComma);
    assert.match(noComma, /b=1, {2}# note\n {4}u=Depends\(g\),\n\)/);
  });
});

describe('auth style and protect fixes', () => {
  const annotatedProject = {
    [APP]: '',
    'app/api/__init__.py': '',
    'app/models.py': 'class User:\n    pass\n',
    'app/api/deps.py': [
      'from typing import Annotated',
      '',
      'from fastapi import Depends, HTTPException',
      'from fastapi.security import OAuth2PasswordBearer',
      '',
      'from app.models import User',
      '',
      'oauth2 = OAuth2PasswordBearer(tokenUrl="/token")',
      '',
      '',
      'def get_current_user(token: Annotated[str, Depends(oauth2)]) -> User:',
      '    if not token:',
      '        raise HTTPException(status_code=401)',
      '    return User()',
      '',
      '',
      'CurrentUser = Annotated[User, Depends(get_current_user)]',
      '',
    ].join('\n'),
    'app/api/items.py': [
      'from fastapi import APIRouter',
      '',
      'from app.api.deps import CurrentUser',
      '',
      'router = APIRouter(prefix="/items")',
      '',
      '',
      '@router.get("/")',
      'def list_items(user: CurrentUser, skip: int = 0):',
      '    return []',
      '',
      '',
      '@router.get("/{item_id}")',
      'def get_item(item_id: int, user: CurrentUser):',
      '    return {}',
      '',
      '',
      '@router.delete("/{item_id}")',
      'def delete_item(item_id: int, hard: bool = False):',
      '    return {}',
      '',
    ].join('\n'),
    'app/main.py': [
      'from fastapi import FastAPI',
      '',
      'from app.api import items',
      '',
      'app = FastAPI()',
      'app.include_router(items.router)',
      '',
    ].join('\n'),
  };

  it('prefers the Annotated alias, with the parameter name handlers give it', async () => {
    const p = await project(annotatedProject);
    const style = projectAuthStyle(p.analysis);
    assert.equal(style.choices[0].dep?.name, 'get_current_user');
    assert.equal(style.choices[0].alias?.name, 'CurrentUser');
    assert.equal(style.choices[0].alias?.paramName, 'user');
    const fix = fixOf(p, 'AUTH002', 'app/api/items.py', 'protect-parameter');
    const text = applied(p, fix).get('app/api/items.py') ?? '';
    // No default: it goes before the first parameter with a default.
    assert.match(text, /def delete_item\(item_id: int, user: CurrentUser, hard: bool = False\):/);
    assert.equal(
      (text.match(/import CurrentUser/g) ?? []).length,
      1,
      'the existing import is reused',
    );
    assertParses(text);
  });

  it('adds to the decorator and to the router constructor, importing Depends and the dependency', async () => {
    const p = await project(annotatedProject);
    const deco =
      applied(p, fixOf(p, 'AUTH002', 'app/api/items.py', 'protect-decorator')).get(
        'app/api/items.py',
      ) ?? '';
    assert.match(
      deco,
      /@router\.delete\("\/\{item_id\}", dependencies=\[Depends\(get_current_user\)\]\)/,
    );
    assert.match(deco, /^from fastapi import APIRouter, Depends$/m);
    assert.match(deco, /^from app\.api\.deps import CurrentUser, get_current_user$/m);
    assertParses(deco);
    const router =
      applied(p, fixOf(p, 'AUTH002', 'app/api/items.py', 'protect-router')).get(
        'app/api/items.py',
      ) ?? '';
    assert.match(
      router,
      /router = APIRouter\(prefix="\/items", dependencies=\[Depends\(get_current_user\)\]\)/,
    );
    assertParses(router);
  });

  it('writes `name: Type = Depends(dep)` when the project does, and `_user=` without a known type', async () => {
    const deps = [
      'from fastapi import Depends, HTTPException',
      'from fastapi.security import HTTPBearer',
      '',
      'from models import User',
      '',
      'bearer = HTTPBearer()',
      '',
      '',
      'def get_current_user(credentials=Depends(bearer)) -> User:',
      '    if credentials is None:',
      '        raise HTTPException(status_code=401)',
      '    return User()',
      '',
    ].join('\n');
    const routes = (typed: boolean) =>
      [
        'from fastapi import APIRouter, Depends, FastAPI',
        '',
        'from auth import get_current_user',
        'from models import User',
        '',
        'app = FastAPI()',
        '',
        '',
        '@app.get("/a")',
        `def a(current_user${typed ? ': User' : ''} = Depends(get_current_user)):`,
        '    return {}',
        '',
        '',
        '@app.post("/b")',
        'def b(**extra):',
        '    return {}',
        '',
      ].join('\n');
    const typed = await project({
      'auth.py': deps,
      'models.py': 'class User:\n    pass\n',
      'main.py': routes(true),
    });
    const t1 =
      applied(typed, fixOf(typed, 'AUTH001', 'main.py', 'protect-parameter')).get('main.py') ?? '';
    assert.match(t1, /def b\(current_user: User = Depends\(get_current_user\), \*\*extra\):/);
    assertParses(t1);
    const untyped = await project({
      'auth.py': deps,
      'models.py': 'class User:\n    pass\n',
      'main.py': routes(false),
    });
    const t2 =
      applied(untyped, fixOf(untyped, 'AUTH001', 'main.py', 'protect-parameter')).get('main.py') ??
      '';
    assert.match(t2, /def b\(_user=Depends\(get_current_user\), \*\*extra\):/);
    assertParses(t2);
  });

  it('merges into an existing dependencies list or name, and gives up on **kwargs', async () => {
    const text = [
      'from fastapi import APIRouter, Depends',
      '',
      'from auth import get_current_user',
      '',
      'COMMON = []',
      'OPTS = {}',
      'router = APIRouter()',
      '',
      '',
      '@router.get("/a", dependencies=[Depends(print)])',
      'def a():',
      '    return {}',
      '',
      '',
      '@router.get("/b", dependencies=COMMON)',
      'def b():',
      '    return {}',
      '',
      '',
      '@router.get("/c", **OPTS)',
      'def c():',
      '    return {}',
      '',
    ].join('\n');
    const p = await project({ 'main.py': text, 'auth.py': 'def get_current_user():\n    pass\n' });
    const file = p.analysis.files.find((f) => f.rel === 'main.py');
    assert.ok(file);
    const dep = {
      module: 'auth',
      name: 'get_current_user',
      abs: path.join(p.dir, 'auth.py'),
      line: 1,
    };
    const a = addToDependencies(p.ctx, file, 10, 0, dep);
    assert.ok(a);
    assert.match(
      applyEdits(text, a),
      /dependencies=\[Depends\(print\), Depends\(get_current_user\)\]\)/,
    );
    const b = addToDependencies(p.ctx, file, 15, 0, dep);
    assert.ok(b);
    const bText = applyEdits(text, b);
    assert.match(bText, /dependencies=\[\*COMMON, Depends\(get_current_user\)\]\)/);
    assertParses(bText);
    assert.equal(addToDependencies(p.ctx, file, 20, 0, dep), null);
  });

  it('does not use a dependency defined below the route in the same file', async () => {
    const text = [
      'from fastapi import Depends, FastAPI, HTTPException',
      '',
      'app = FastAPI()',
      '',
      '',
      '@app.get("/a")',
      'def a():',
      '    return {}',
      '',
      '',
      'def get_current_user():',
      '    raise HTTPException(status_code=401)',
      '',
      '',
      '@app.get("/b")',
      'def b(user=Depends(get_current_user)):',
      '    return {}',
      '',
    ].join('\n');
    const p = await project({ 'main.py': text });
    const finding = p.findings.find((f) => f.code === 'AUTH001' && f.line === 6);
    assert.ok(finding);
    const kinds = fixesForFinding(p.ctx, finding).map((f) => f.kind);
    assert.ok(
      !kinds.includes('protect-parameter') && !kinds.includes('protect-decorator'),
      kinds.join(),
    );
  });

  it('scaffolds an auth module next to the app when there is no auth, never overwriting', async () => {
    const files = {
      [APP]: '',
      'app/main.py':
        'from fastapi import FastAPI\n\napp = FastAPI()\n\n\n@app.post("/notes")\ndef create_note(text: str):\n    return {}\n',
      'app/security.py': '# an unrelated module that already exists\n',
    };
    const p = await project(files);
    assert.equal(projectAuthStyle(p.analysis).hasAuth, false);
    const fix = fixOf(p, 'AUTH001', 'app/main.py', 'scaffold-auth');
    assert.deepEqual(
      fix.creates.map((c) => path.relative(p.dir, c.file)),
      ['app/auth.py'],
    );
    const out = applied(p, fix);
    const mod = out.get('app/auth.py') ?? '';
    assertParses(mod, 'scaffolded module');
    assert.match(mod, /algorithms=\[JWT_ALGORITHM\]/);
    assert.match(mod, /JWT_ALGORITHM = "HS256"/);
    assert.match(mod, /os\.environ\.get\("JWT_SECRET_KEY"\)/);
    assert.match(mod, /status_code=status\.HTTP_401_UNAUTHORIZED/);
    const main = out.get('app/main.py') ?? '';
    assert.match(main, /^from app\.auth import get_current_user$/m);
    assert.match(
      main,
      /def create_note\(text: str, current_user: dict = Depends\(get_current_user\)\):/,
    );
    assertParses(main);
    assert.equal(fix.safety, 'unsafe');
    assertParses(scaffoldModuleText('/token', '\r\n').replace(/\r\n/g, '\n'));
  });
});

describe('comment fixes', () => {
  it('merges a code into an existing ignore list, appends otherwise', () => {
    const text = '@app.get("/x")  # fastapi-lens: ignore[AUTH002] reviewed\ndef x():\n    pass\n';
    const fix = ignoreFix('/p/main.py', text, 1, 'AUTH001');
    assert.ok(fix);
    assert.equal(
      applyEdits(text, fix.edits).split('\n')[0],
      '@app.get("/x")  # fastapi-lens: ignore[AUTH002, AUTH001] reviewed',
    );
    assert.equal(ignoreFix('/p/main.py', text, 1, 'AUTH002'), null, 'already ignored');
    const plain = ignoreFix('/p/main.py', 'x = yaml.load(s)  \n', 1, 'DESER001');
    assert.ok(plain);
    assert.equal(
      applyEdits('x = yaml.load(s)  \n', plain.edits),
      'x = yaml.load(s)  # fastapi-lens: ignore[DESER001] TODO: explain why this is safe  \n',
    );
  });

  it('refuses lines that end inside a string or with a backslash', () => {
    assert.equal(ignoreFix('/p/m.py', 'x = """a\nb"""\n', 1, 'SECRET001'), null);
    assert.equal(ignoreFix('/p/m.py', 'x = 1 + \\\n    2\n', 1, 'X001'), null);
    assert.ok(ignoreFix('/p/m.py', 'x = """a\nb"""\n', 2, 'SECRET001'));
  });

  it('marks a route public above its decorator with the same indentation', () => {
    const text = 'class V:\n    @router.get("/health")\n    def health(self):\n        pass\n';
    const fix = markPublicFix('/p/m.py', text, {
      line: 2,
      path: '/health',
      function: 'health',
      methods: ['GET'],
    });
    assert.ok(fix);
    const out = applyEdits(text, fix.edits);
    assert.equal(
      out.split('\n')[1],
      '    # fastapi-lens: public health check for the load balancer',
    );
    assertParses(out);
  });
});

/** Every file of a folder under test/fixtures, by path relative to it. */
function fixtureFiles(rel: string): Record<string, string> {
  const root = path.join(__dirname, 'fixtures', rel);
  const out: Record<string, string> = {};
  for (const e of fs.readdirSync(root, { withFileTypes: true, recursive: true }))
    if (e.isFile())
      out[path.relative(root, path.join(e.parentPath, e.name)).split(path.sep).join('/')] =
        fs.readFileSync(path.join(e.parentPath, e.name), 'utf8');
  return out;
}

/** Python's parser on several texts at once (one process): the first error, or null. */
function firstParseError(texts: Map<string, string>): string | null {
  const script = [
    'import ast, json, sys',
    'for name, text in json.load(sys.stdin).items():',
    '    try:',
    '        ast.parse(text)',
    '    except SyntaxError as e:',
    '        print(f"{name}: {e}")',
    '        break',
  ].join('\n');
  const out = execFileSync(PYTHON, ['-c', script], {
    input: JSON.stringify(Object.fromEntries(texts)),
    encoding: 'utf8',
  });
  return out.trim() || null;
}

/** What a finding is about, stable across edits that move lines (counts in messages dropped). */
function findingKey(f: Finding): string {
  const route = f.route ? `${f.route.methods.join()} ${f.route.path}` : '';
  return `${f.code}|${f.file}|${route}|${f.message.replace(/\d+ of \d+/g, '')}`;
}

function countByKey(findings: Finding[]): Map<string, number> {
  const out = new Map<string, number>();
  for (const f of findings) out.set(findingKey(f), (out.get(findingKey(f)) ?? 0) + 1);
  return out;
}

/**
 * Whether a finding is about the same target as the fixed one, and whether the fix is about
 * that one finding (a rewrite or a comment on its line: an identical finding elsewhere may
 * still offer it) or about the route or router (then nothing there may offer it again).
 */
function sameTarget(fix: CodeFix, fixed: Finding, other: Finding): boolean {
  // A router's fix is about the router: any of its routes could offer it again.
  if (fix.kind === 'protect-router') return true;
  if (!perFinding(fix) && fixed.route && other.route)
    return (
      other.route.file === fixed.route.file &&
      other.route.path === fixed.route.path &&
      other.route.methods.join() === fixed.route.methods.join()
    );
  return findingKey(other) === findingKey(fixed);
}
const perFinding = (fix: CodeFix) => fix.kind === 'rule' || fix.kind === 'ignore';

/** The fixes like `fix` (same kind and title) offered for findings about its target. */
function offersLike(p: Project, fix: CodeFix, fixed: Finding): CodeFix[] {
  return p.findings
    .filter((f) => sameTarget(fix, fixed, f))
    .flatMap((f) => fixesForFinding(p.ctx, f))
    .filter((g) => g.kind === fix.kind && g.title === fix.title);
}

const ALL_KINDS: CodeFix['kind'][] = [
  'rule',
  'protect-parameter',
  'protect-decorator',
  'protect-router',
  'scaffold-auth',
  'mark-public',
  'ignore',
];

describe('applying fixes removes the finding and adds none', () => {
  const AUTH002_PROJECT = {
    'auth.py': [
      'from fastapi import Depends, HTTPException',
      'from fastapi.security import HTTPBearer',
      '',
      'bearer = HTTPBearer()',
      '',
      '',
      'def get_current_user(credentials=Depends(bearer)):',
      '    if credentials is None:',
      '        raise HTTPException(status_code=401)',
      '    return credentials',
      '',
    ].join('\n'),
    'main.py': [
      'from fastapi import APIRouter, Depends, FastAPI',
      '',
      'from auth import get_current_user',
      '',
      'app = FastAPI(openapi_url=None)',
      'router = APIRouter(prefix="/items")',
      '',
      '',
      '@router.get("/")',
      'def list_items(user=Depends(get_current_user)):',
      '    return []',
      '',
      '',
      '@router.get("/{item_id}")',
      'def get_item(item_id: int, user=Depends(get_current_user)):',
      '    return {}',
      '',
      '',
      '@router.put("/{item_id}")',
      'def put_item(item_id: int, user=Depends(get_current_user)):',
      '    return {}',
      '',
      '',
      '@router.delete("/{item_id}")',
      'def delete_item(item_id: int):',
      '    return {}',
      '',
      '',
      'app.include_router(router)',
      '',
    ].join('\n'),
  };

  /**
   * Each fix of each chosen finding, applied to its project: every touched file parses, no line
   * is deleted, its finding is gone and no finding appears; then the same fix is not offered
   * again for the same target (or applying it changes nothing).
   */
  async function checkEveryFix(
    name: string,
    files: Record<string, string>,
    pick: (f: Finding, fixes: CodeFix[]) => boolean = () => true,
  ): Promise<CodeFix['kind'][]> {
    const base = await project(files);
    const baseCounts = countByKey(base.findings);
    const kinds: CodeFix['kind'][] = [];
    for (const finding of base.findings) {
      // What an editor offers: display-only fixes are never applied.
      const fixes = fixesForFinding(base.ctx, finding).filter((f) => f.safety !== 'display-only');
      if (!pick(finding, fixes)) continue;
      for (const fix of fixes) {
        kinds.push(fix.kind);
        const what = `${name} ${finding.code} ${finding.file}:${finding.line} ${fix.kind} "${fix.title}"`;
        const out = applied(base, fix);
        assert.equal(firstParseError(out), null, `${what}: does not parse`);
        const next: Record<string, string> = { ...files };
        // A replacing edit (a rule's rewrite) may change its lines, never remove one.
        const rewritten = new Map<string, Set<number>>();
        for (const e of fix.edits) {
          const span = e.endLine - e.line;
          assert.ok(e.newText.split('\n').length - 1 >= span, `${what}: an edit removes lines`);
          if (span === 0 && e.endColumn === e.column) continue;
          const rel = path.relative(base.dir, e.file).split(path.sep).join('/');
          const set = rewritten.get(rel) ?? new Set<number>();
          for (let l = e.line; l <= e.endLine; l++) set.add(l);
          rewritten.set(rel, set);
        }
        for (const [rel, text] of out) {
          const before = files[rel];
          if (before !== undefined) assertKeepsLines(before, text, what, rewritten.get(rel));
          else
            assert.ok(fix.creates.length > 0, `${what}: edits ${rel}, which is not in the project`);
          next[rel] = text;
        }
        const after = await project(next);
        const afterCounts = countByKey(after.findings);
        const key = findingKey(finding);
        assert.ok(
          (afterCounts.get(key) ?? 0) < (baseCounts.get(key) ?? 0),
          `${what}: the finding is still reported`,
        );
        const added = [...afterCounts].filter(([k, n]) => n > (baseCounts.get(k) ?? 0));
        assert.deepEqual(added, [], `${what}: new findings`);
        // Idempotence: the same fix for the same target is not offered again, or is a no-op.
        // Identical findings elsewhere (two equal calls in a file) keep theirs.
        const others = perFinding(fix) ? offersLike(base, fix, finding).length - 1 : 0;
        const effective = offersLike(after, fix, finding).filter((again) =>
          [...applied(after, again)].some(([rel, text]) => next[rel] !== text),
        );
        assert.ok(
          effective.length <= others,
          `${what}: offered again ${effective.length} time(s) with an effect (identical findings: ${others})`,
        );
      }
    }
    return kinds;
  }

  it('every fix of an AUTH002 finding: all kinds of protection, marking public, ignoring', async () => {
    const kinds = await checkEveryFix('inline', AUTH002_PROJECT, (f) => f.code === 'AUTH002');
    assert.deepEqual([...new Set(kinds)].sort(), [
      'ignore',
      'mark-public',
      'protect-decorator',
      'protect-parameter',
      'protect-router',
    ]);
  });

  it('every fix of every finding of the editor and runtime fixture projects', async (t) => {
    const kinds = new Set<CodeFix['kind']>();
    let count = 0;
    for (const rel of [
      'lsp/classic',
      'lsp/annotated',
      'lsp/noauth',
      'fix-runtime/jwt-dependency',
      'fix-runtime/no-auth',
    ]) {
      const done = await checkEveryFix(rel, fixtureFiles(rel));
      assert.ok(done.length > 0, `${rel}: no fixes`);
      for (const k of done) kinds.add(k);
      count += done.length;
    }
    t.diagnostic(`${count} fixes applied: ${[...kinds].join(', ')}`);
    assert.deepEqual(
      ALL_KINDS.filter((k) => !kinds.has(k)),
      [],
      'every fix kind is exercised',
    );
  });

  it('every fix of every rule-fixture finding that has a rule fix', async (t) => {
    const dirs = fs
      .readdirSync(path.join(__dirname, 'fixtures', 'rules'), { withFileTypes: true })
      .filter((e) => e.isDirectory())
      .map((e) => e.name)
      .sort();
    let count = 0;
    const withFixes: string[] = [];
    for (const dir of dirs) {
      const done = await checkEveryFix(`rules/${dir}`, fixtureFiles(`rules/${dir}`), (_f, fixes) =>
        fixes.some((x) => x.kind === 'rule'),
      );
      if (done.includes('rule')) withFixes.push(dir);
      count += done.length;
    }
    t.diagnostic(`${count} fixes applied in ${withFixes.join(', ')}`);
    assert.ok(withFixes.length >= 8, withFixes.join());
  });
});
