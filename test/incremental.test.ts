import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { after, before, describe, it } from 'node:test';
import type { Parser } from 'web-tree-sitter';
import { generateLatencyProject } from '../bench/lsp-latency';
import { discover } from '../server/src/engine/discovery';
import type { ModuleFacts } from '../server/src/engine/facts';
import { factsFor } from '../server/src/engine/fileFacts';
import { FileState, pointAt } from '../server/src/engine/incremental/fileState';
import { scanIntoStore } from '../server/src/engine/incremental/scan';
import { analyzeWorkspace, scanWorkspace } from '../server/src/engine/index';
import { createPythonParser, parseSource } from '../server/src/engine/parser';
import { DEFAULT_CONFIG, scanAnalysis } from '../server/src/engine/scan';
import { EngineSession, sameFacts } from '../server/src/engine/session';

/**
 * The incremental engine gives what a full recompute gives:
 * - per file: FileState (statement-level re-analysis on an incrementally re-parsed tree) equals
 *   the full per-file pass after each of a few hundred random edits of real files;
 * - per workspace: EngineSession, after each edit of a scripted session (body edits, lines added
 *   above routes, a dependency added, a router prefix changed, non-FastAPI files edited, syntax
 *   errors, comments), reports exactly the routes and findings of `scanWorkspace` on the same
 *   texts, and takes the warm path where the route graph did not change.
 */

const ROOT = path.resolve(__dirname, '..');
const tmpRoots: string[] = [];
after(() => {
  for (const d of tmpRoots) fs.rmSync(d, { recursive: true, force: true });
});

function tmpDir(name: string): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), `lens-incr-${name}-`));
  tmpRoots.push(dir);
  return dir;
}

/** A small deterministic PRNG. */
function rng(seed: number): (n: number) => number {
  let s = seed >>> 0;
  return (n: number) => {
    s = (Math.imul(s, 1103515245) + 12345) >>> 0;
    return (s >>> 8) % n;
  };
}

/** One random edit of a Python text (lines added, removed, changed, copied). */
function randomEdit(text: string, r: (n: number) => number): string {
  const lines = text.split('\n');
  const i = r(lines.length);
  const indent = (/^\s*/.exec(lines[i]) ?? [''])[0];
  switch (r(7)) {
    case 0:
      lines.splice(i, 0, '');
      break;
    case 1:
      lines.splice(i, 1);
      break;
    case 2:
      lines.splice(i, 0, `${indent}value = compute(item, "x")`);
      break;
    case 3: {
      const k = r(lines[i].length + 1);
      lines[i] = `${lines[i].slice(0, k)}x${lines[i].slice(k)}`;
      break;
    }
    case 4: {
      const k = r(Math.max(1, lines[i].length));
      lines[i] = lines[i].slice(0, k) + lines[i].slice(k + 1);
      break;
    }
    case 5:
      lines.splice(i, 0, lines[r(lines.length)]);
      break;
    default:
      lines.splice(i, 0, `${indent}# a comment`);
  }
  return lines.join('\n');
}

function pythonFiles(dir: string): string[] {
  return discover([dir], { exclude: [], cwd: dir }).files.map((f) => f.abs);
}

describe('FileState: statement-level re-analysis equals the full per-file pass', () => {
  let parser: Parser;
  before(async () => {
    parser = await createPythonParser();
  });

  const check = (file: string, text: string, edits: number, seed: number) => {
    const state = FileState.create(parser, file, text);
    try {
      assert.ok(sameFacts(state.facts, factsFor(parser, file, text)), `${file}: initial facts`);
      const r = rng(seed);
      let t = text;
      const modes = new Set<string>();
      for (let i = 0; i < edits; i++) {
        t = randomEdit(t, r);
        const change = state.update(parser, t);
        modes.add(change.mode);
        const full: ModuleFacts = factsFor(parser, file, t);
        assert.ok(
          sameFacts(state.facts, full),
          `${path.basename(file)}: edit ${i} (${change.mode}) differs from the full pass`,
        );
      }
      return modes;
    } finally {
      state.dispose();
    }
  };

  it('on the example app and the rule fixtures', () => {
    const files = [
      ...pythonFiles(path.join(ROOT, 'examples', 'shop-api')),
      ...pythonFiles(path.join(ROOT, 'test', 'fixtures', 'rules')),
    ].filter((f) => fs.statSync(f).size > 400);
    assert.ok(files.length > 20);
    let n = 0;
    for (const file of files) check(file, fs.readFileSync(file, 'utf8'), 6, n++);
  });

  it('on a 2,000-line route module, mostly incrementally', () => {
    const dir = tmpDir('big');
    const file = generateLatencyProject(dir, 300);
    const modes = check(file, fs.readFileSync(file, 'utf8'), 60, 7);
    assert.ok(modes.has('incremental'));
  });

  it('lines added above the routes again and again: kept statements shifted each time', () => {
    // Kept statements' lines are shifted through a list of their line holders, made once per
    // statement and reused by the next shift: it must follow the items when they are replaced
    // (taint summarised again for the whole file) and never shift an object twice.
    const dir = tmpDir('shifts');
    const file = generateLatencyProject(dir, 300);
    let t = fs.readFileSync(file, 'utf8');
    const state = FileState.create(parser, file, t);
    try {
      const top = t.indexOf('\n\nclass Item') + 1;
      const step = (next: string, what: string) => {
        t = next;
        const change = state.update(parser, t);
        assert.equal(change.mode, 'incremental', what);
        assert.ok(
          sameFacts(state.facts, factsFor(parser, file, t)),
          `${what}: differs from the full pass`,
        );
      };
      for (let i = 0; i < 4; i++) step(t.slice(0, top) + '\n' + t.slice(top), `blank line ${i}`);
      // A module-level string constant is in the taint key: every function is summarised again.
      step(t.slice(0, top) + 'PREFIX = "/tmp"\n' + t.slice(top), 'constant added');
      for (let i = 0; i < 3; i++) step(t.slice(0, top) + '# note\n' + t.slice(top), `comment ${i}`);
      for (let i = 0; i < 7; i++) {
        const end = t.indexOf('\n', top) + 1;
        step(t.slice(0, top) + t.slice(end), `line removed ${i}`);
      }
    } finally {
      state.dispose();
    }
  });

  it('defs sharing a qualname (property setters, overloads) keep taint per statement', () => {
    const file = path.join(tmpDir('dupes'), 'routes.py');
    const text = [
      'import subprocess',
      'from typing import overload',
      'from fastapi import APIRouter',
      '',
      'router = APIRouter()',
      '',
      '',
      'class Runner:',
      '    def __init__(self, cmd):',
      '        self._cmd = cmd',
      '',
      '    @property',
      '    def cmd(self):',
      '        return self._cmd',
      '',
      '    @cmd.setter',
      '    def cmd(self, value):',
      '        subprocess.run(value, shell=True)',
      '        self._cmd = value',
      '',
      '',
      '@overload',
      'def run(cmd: str) -> int: ...',
      '@overload',
      'def run(cmd: bytes) -> int: ...',
      'def run(cmd):',
      '    return subprocess.call(cmd, shell=True)',
      '',
      '',
      '@router.get("/run")',
      'def run_route(q: str):',
      '    total = 1',
      '    return run(q)',
      '',
    ].join('\n');
    const state = FileState.create(parser, file, text);
    try {
      let t = text;
      for (const line of ['    total = 2', '    total = 23', '    total = 23 + len(q)']) {
        t = t.replace(/ {4}total = .*/, line);
        const change = state.update(parser, t);
        assert.equal(change.mode, 'incremental', line);
        assert.equal(change.taintFull, false, `${line}: taint re-summarised the whole file`);
        assert.ok(sameFacts(state.facts, factsFor(parser, file, t)), line);
      }
      // Editing one of the duplicates: still the same as the full pass.
      t = t.replace('subprocess.run(value, shell=True)', 'subprocess.run(value)');
      state.update(parser, t);
      assert.ok(sameFacts(state.facts, factsFor(parser, file, t)), 'setter edited');
      assert.equal(state.facts.taint?.funcs.filter((f) => f.q === 'Runner.cmd').length, 1);
      // And the def the overloads stand for.
      t = t.replace(
        'return subprocess.call(cmd, shell=True)',
        'return subprocess.call(cmd, shell=True) or 0',
      );
      const change = state.update(parser, t);
      assert.equal(change.taintFull, false, 'overloaded def edited');
      assert.ok(sameFacts(state.facts, factsFor(parser, file, t)), 'overloaded def edited');
    } finally {
      state.dispose();
    }
  });

  it('adopts facts computed elsewhere without changing them', () => {
    const file = path.join(ROOT, 'examples', 'shop-api', 'app', 'api', 'routes', 'items.py');
    const text = fs.readFileSync(file, 'utf8');
    const facts = factsFor(parser, file, text);
    const state = FileState.adopt(parser, file, text, facts);
    try {
      assert.equal(state.facts, facts);
      const edited = text.replace('\n\n', '\n\n\n');
      state.update(parser, edited);
      assert.ok(sameFacts(state.facts, factsFor(parser, file, edited)));
    } finally {
      state.dispose();
    }
  });

  it("lone CR and mixed line endings: edit positions are the parser's, re-analysis equals the full pass", () => {
    const file = path.join(ROOT, 'examples', 'shop-api', 'app', 'api', 'routes', 'items.py');
    const lf = fs.readFileSync(file, 'utf8');
    for (const endings of ['cr', 'mixed'] as const) {
      const text = withEndings(lf, endings);
      // The positions the incremental edit hands tree-sitter are those of the text it parsed
      // (parseSource reads a lone CR as a newline): every node's start, as the tree has it.
      const tree = parseSource(parser, text);
      try {
        const cursor = tree.walk();
        let checked = 0;
        for (let more = true; more;) {
          const n = cursor.currentNode;
          assert.deepEqual(
            pointAt(text, n.startIndex),
            n.startPosition,
            `${endings}: ${n.type} at ${n.startIndex}`,
          );
          checked++;
          if (cursor.gotoFirstChild()) continue;
          while (more && !cursor.gotoNextSibling()) if (!cursor.gotoParent()) more = false;
        }
        cursor.delete();
        assert.ok(checked > 1000, `${checked} nodes`);
      } finally {
        tree.delete();
      }
      // Random edits made on the LF text, written with the same endings.
      const state = FileState.create(parser, file, text);
      try {
        const r = rng(endings === 'cr' ? 11 : 12);
        let t = lf;
        const modes = new Set<string>();
        for (let i = 0; i < 30; i++) {
          t = randomEdit(t, r);
          const next = withEndings(t, endings);
          modes.add(state.update(parser, next).mode);
          assert.ok(
            sameFacts(state.facts, factsFor(parser, file, next)),
            `${endings}: edit ${i} differs from the full pass`,
          );
        }
        assert.ok(modes.has('incremental'));
      } finally {
        state.dispose();
      }
    }
  });
});

/**
 * A text with its line endings replaced: every line ending in a lone CR, or each line's ending
 * (LF, CR or CRLF) chosen by its content, so that an edit of a line may turn a CRLF into a CR.
 */
function withEndings(lf: string, endings: 'cr' | 'mixed'): string {
  const lines = lf.split('\n');
  const eol = (line: string): string => {
    if (endings === 'cr') return '\r';
    let h = 7;
    for (let i = 0; i < line.length; i++) h = (h * 31 + line.charCodeAt(i)) >>> 0;
    return ['\n', '\r', '\r\n'][h % 3];
  };
  return lines.map((l, i) => (i < lines.length - 1 ? l + eol(l) : l)).join('');
}

describe('the incremental scan pipeline equals scanAnalysis', () => {
  it('on the example app and the rule fixtures', async () => {
    for (const dir of [
      path.join(ROOT, 'examples', 'shop-api'),
      path.join(ROOT, 'test', 'fixtures', 'rules', 'INJ001'),
      path.join(ROOT, 'test', 'fixtures', 'rules', 'AUTH002'),
    ]) {
      const analysis = await analyzeWorkspace({ roots: [dir], cwd: dir, threads: 1 });
      const sourceOf = (abs: string) => fs.readFileSync(abs, 'utf8');
      const config = { forFile: () => DEFAULT_CONFIG };
      const expected = scanAnalysis(analysis, { config, sourceOf });
      const store = scanIntoStore(analysis, { config, sourceOf });
      assert.deepEqual(store.findings(), expected, dir);
    }
  });
});

/** Compare a session with a full scan of the same texts. */
async function assertSameAsFull(
  session: EngineSession,
  dir: string,
  overlays: Map<string, string>,
  what: string,
): Promise<void> {
  const full = await scanWorkspace({ roots: [dir], cwd: dir, overlays, threads: 1 });
  assert.deepEqual(
    session.analysis().report.routes,
    full.analysis.report.routes,
    `${what}: routes differ`,
  );
  assert.deepEqual(session.findings(), full.findings, `${what}: findings differ`);
  assert.deepEqual(
    session.analysis().report.diagnostics,
    full.analysis.report.diagnostics,
    `${what}: notes differ`,
  );
}

/**
 * A session over `project` written to a new folder, and `edit(rel, from, to, what)`: replace
 * `from` by `to` in a file (an open document), which must take the cold path (the route graph
 * changed) and give what a full recompute of the same texts gives.
 */
async function graphEditSession(name: string, project: Record<string, string>) {
  const dir = tmpDir(name);
  for (const [rel, text] of Object.entries(project)) {
    fs.mkdirSync(path.dirname(path.join(dir, rel)), { recursive: true });
    fs.writeFileSync(path.join(dir, rel), text);
  }
  const session = new EngineSession({ roots: [dir], cwd: dir, threads: 1 });
  await session.loadAll();
  session.findings();
  const texts = new Map<string, string>();
  const edit = async (rel: string, from: string, to: string, what: string): Promise<void> => {
    const file = path.join(dir, rel);
    const before = texts.get(file) ?? fs.readFileSync(file, 'utf8');
    if (!texts.has(file)) {
      texts.set(file, before);
      await session.updateFile(file, before);
    }
    assert.ok(before.includes(from), `${what}: ${from}`);
    texts.set(file, before.replace(from, to));
    await session.updateFile(file, texts.get(file) as string);
    assert.equal(session.lastUpdate?.path, 'cold', `${what}: the route graph changed`);
    await assertSameAsFull(session, dir, texts, what);
  };
  return { dir, session, texts, edit };
}

describe('EngineSession: warm edits give what a full recompute gives', () => {
  let dir: string;
  let big: string;
  let session: EngineSession;
  const texts = new Map<string, string>();

  before(async () => {
    dir = tmpDir('session');
    big = generateLatencyProject(dir, 1500, 700);
    session = new EngineSession({ roots: [dir], cwd: dir, threads: 1 });
    await session.loadAll();
    session.findings();
  });

  /** Apply an edit to a file's current text and compare; returns the path taken. */
  const edit = async (file: string, change: (text: string) => string, what: string) => {
    const before = texts.get(file) ?? fs.readFileSync(file, 'utf8');
    if (!texts.has(file)) {
      // Opening the document: nothing to do.
      texts.set(file, before);
      await session.updateFile(file, before);
      assert.equal(session.lastUpdate?.path, 'none', `${what}: opening the document`);
    }
    const text = change(before);
    assert.notEqual(text, before, `${what}: the edit changes nothing`);
    texts.set(file, text);
    await session.updateFile(file, text);
    const taken = session.lastUpdate?.path;
    await assertSameAsFull(session, dir, texts, what);
    return taken;
  };
  const lines = (f: (ls: string[]) => void) => (text: string) => {
    const ls = text.split('\n');
    f(ls);
    return ls.join('\n');
  };
  const at = (text: string, needle: string) => {
    const i = text.split('\n').findIndex((l) => l.includes(needle));
    assert.ok(i >= 0, needle);
    return i;
  };

  it('typing in a handler body', async () => {
    const word = '    extra = service.get(db, item_id)';
    let row = -1;
    for (let n = 5; n <= word.length; n += 6) {
      const taken = await edit(
        big,
        lines((ls) => {
          if (row < 0) {
            row = at(ls.join('\n'), 'def read_item_8(') + 1;
            ls.splice(row, 0, word.slice(0, n));
          } else ls[row] = word.slice(0, n);
        }),
        `typing ${JSON.stringify(word.slice(0, n))}`,
      );
      // A statement cut short (`service.get(db, i`) swallows what follows: graph edit.
      if (!word.slice(0, n).includes('(') || word.slice(0, n).endsWith(')'))
        assert.equal(taken, 'warm', word.slice(0, n));
    }
  });

  it('typing a guard clause: warm in a route handler, a graph edit in a dependency', async () => {
    // A handler's raises and guards cannot change exposure (no verdict reads them), even
    // while the `if` header is a syntax error.
    const guard = ['    if item_id < 0:', '        raise HTTPException(status_code=403)'];
    let row = -1;
    const steps = [
      ...[3, 9, 15, guard[0].length].map((n) => [guard[0].slice(0, n)]),
      ...[10, 20, 35, guard[1].length].map((n) => [guard[0], guard[1].slice(0, n)]),
    ];
    for (const step of steps) {
      const taken = await edit(
        big,
        lines((ls) => {
          if (row < 0) {
            row = at(ls.join('\n'), 'def read_item_24(') + 1;
            ls.splice(row, 0, ...step);
          } else ls.splice(row, step.length === 1 ? 1 : 2, ...step);
        }),
        `typing ${JSON.stringify(step.join('\n'))} in a handler`,
      );
      assert.equal(taken, 'warm', step.join('\n'));
    }
    // The same in a dependency: its verdict reads its guards, so the routes are recomputed.
    const deps = path.join(dir, 'app', 'deps.py');
    const taken = await edit(
      deps,
      (t) =>
        t.replace('if not user.get("is_superuser"):', 'if not user.get("is_superuser") and False:'),
      'a dependency guard weakened',
    );
    assert.equal(taken, 'cold');
    // After that rescan (findings of untouched routes carried over), a service method the
    // handlers call starts rejecting callers: AUTH001 follows handler calls, so it is re-run.
    const service = path.join(dir, 'app', 'big', 'service.py');
    await edit(
      service,
      (t) =>
        t.replace(
          '        db.execute("DELETE FROM big_items WHERE id = ?", (item_id,))',
          '        raise HTTPException(status_code=401, detail="Not authenticated")',
        ),
      'a called service method rejects callers',
    );
    await edit(
      service,
      (t) =>
        t.replace(
          '        raise HTTPException(status_code=401, detail="Not authenticated")',
          '        db.execute("DELETE FROM big_items WHERE id = ?", (item_id,))',
        ),
      'and no longer',
    );
  });

  it('adding and removing lines above routes', async () => {
    assert.equal(
      await edit(
        big,
        lines((ls) => ls.splice(at(ls.join('\n'), 'class Item'), 0, '', '')),
        'two blank lines',
      ),
      'warm',
    );
    assert.equal(
      await edit(
        big,
        lines((ls) => ls.splice(3, 0, '# notes about this module')),
        'a comment at the top',
      ),
      'warm',
    );
    assert.equal(
      await edit(
        big,
        lines((ls) => ls.splice(3, 1)),
        'the comment removed',
      ),
      'warm',
    );
    await edit(
      big,
      lines((ls) => ls.splice(at(ls.join('\n'), 'def search_10('), 0, '    # a note')),
      'a comment between decorator and def',
    );
  });

  it('editing statements that feed the taint rules', async () => {
    await edit(
      big,
      lines((ls) => {
        const i = at(ls.join('\n'), 'def search_2(');
        ls.splice(i + 1, 0, '    subprocess.run(q, shell=True)');
      }),
      'a new command injection in a handler',
    );
    await edit(
      big,
      lines((ls) => {
        const i = at(ls.join('\n'), 'def run_3(');
        ls[i + 1] = '    out = subprocess.run(["ls", cmd], capture_output=True)';
      }),
      'a command injection fixed',
    );
  });

  it('changing exposure: a dependency added, a router prefix changed', async () => {
    assert.equal(
      await edit(
        big,
        (t) =>
          t.replace(
            '@router.get("/search10")',
            '@router.get("/search10", dependencies=[Depends(get_current_user)])',
          ),
        'a dependency added to a route',
      ),
      'cold',
    );
    assert.equal(
      await edit(
        big,
        (t) => t.replace('router = APIRouter(prefix="/big"', 'router = APIRouter(prefix="/bigger"'),
        'the router prefix changed',
      ),
      'cold',
    );
    await edit(
      big,
      (t) =>
        t.replace(
          'router = APIRouter(prefix="/bigger", tags=["big"])',
          'router = APIRouter(prefix="/bigger", tags=["big"], dependencies=[Depends(get_current_user)])',
        ),
      'router dependencies added',
    );
  });

  it('annotations and suppressions', async () => {
    await edit(
      big,
      lines((ls) =>
        ls.splice(
          at(ls.join('\n'), '@router.get("/health7")'),
          0,
          '# fastapi-lens: public liveness probe',
        ),
      ),
      'marked public',
    );
    await edit(
      big,
      (t) =>
        t.replace(
          'def delete_item_5(item_id: int, db=Depends(get_db)):',
          'def delete_item_5(item_id: int, db=Depends(get_db)):  # fastapi-lens: ignore[AUTH001]',
        ),
      'a finding suppressed',
    );
  });

  it('syntax errors while typing, then fixed', async () => {
    await edit(
      big,
      lines((ls) => {
        const i = at(ls.join('\n'), 'def read_item_16(');
        ls.splice(i + 1, 0, '    broken = service.get(');
      }),
      'an open parenthesis',
    );
    await edit(
      big,
      (t) => t.replace('    broken = service.get(\n', '    broken = service.get(db, 1)\n'),
      'closed',
    );
  });

  it('adding and removing a route', async () => {
    const route = '\n\n@router.get("/late")\ndef late():\n    return {"late": True}\n';
    assert.equal(await edit(big, (t) => t + route, 'a route appended'), 'cold');
    assert.equal(await edit(big, (t) => t.replace(route, '\n'), 'the route removed'), 'cold');
  });

  it('editing a service module and a module nothing imports', async () => {
    const service = path.join(dir, 'app', 'big', 'service.py');
    assert.equal(
      await edit(
        service,
        (t) =>
          t.replace(
            '"DELETE FROM big_items WHERE id = ?", (item_id,)',
            'f"DELETE FROM big_items WHERE id = {item_id}"',
          ),
        'a sink in a service',
      ),
      'warm',
    );
    const plain = path.join(dir, 'app', 'plain.py');
    const taken = await edit(
      plain,
      lines((ls) => ls.splice(4, 0, '    data = eval(path)')),
      'a module nothing imports',
    );
    assert.equal(taken, 'warm');
    assert.equal(session.lastUpdate?.taintRoutes, 0);
    assert.equal(session.lastUpdate?.affectedRoutes, 0);
  });

  it('a full per-file pass on open documents finds nothing to correct', async () => {
    assert.deepEqual(await session.verifyOpenFiles(), []);
    await assertSameAsFull(session, dir, texts, 'after verification');
  });

  it('editing the dependencies module', async () => {
    const deps = path.join(dir, 'app', 'deps.py');
    await edit(
      deps,
      lines((ls) => ls.splice(at(ls.join('\n'), 'def get_db'), 0, '', '# database session')),
      'lines added in deps',
    );
    await edit(
      deps,
      (t) =>
        t.replace(
          'raise HTTPException(status_code=403, detail="Not enough privileges")',
          'return user',
        ),
      'a superuser check removed',
    );
  });

  it('random edits of the big module', async () => {
    const r = rng(11);
    const changed = (t: string) => {
      for (;;) {
        const next = randomEdit(t, r);
        if (next !== t) return next;
      }
    };
    for (let i = 0; i < 25; i++) await edit(big, changed, `random edit ${i}`);
  });
});

/**
 * A project where the rules' findings depend on each other across files: a sink two routes
 * reach (one finding, for the most exposed route), a router whose routes are mostly protected
 * (AUTH002 on the odd one), a response model in another module (DATA001), an app that may get
 * a rate limiter (RATE001), a dependency that checks a role.
 */
const RESCAN_PROJECT: Record<string, string> = {
  'app/__init__.py': '',
  'app/deps.py': `from typing import Annotated

from fastapi import Depends, HTTPException
from fastapi.security import OAuth2PasswordBearer
import jwt

oauth2_scheme = OAuth2PasswordBearer(tokenUrl="token")


def get_current_user(token: str = Depends(oauth2_scheme)):
    try:
        return jwt.decode(token, "secret", algorithms=["HS256"])
    except jwt.PyJWTError:
        raise HTTPException(status_code=401, detail="Not authenticated")


def get_admin(user=Depends(get_current_user)):
    if not user.get("admin"):
        raise HTTPException(status_code=403, detail="Not an admin")
    return user


CurrentUser = Annotated[dict, Depends(get_current_user)]
`,
  'app/service.py': `import subprocess


def run(cmd):
    subprocess.run(cmd, shell=True)


def lookup(db, name):
    return db.execute(f"SELECT * FROM users WHERE name = '{name}'")
`,
  'app/models.py': `from pydantic import BaseModel


class UserOut(BaseModel):
    id: int
    email: str
`,
  'app/a.py': `import subprocess

from fastapi import APIRouter, Depends

from app import service
from app.deps import get_admin, get_current_user
from app.models import UserOut

router = APIRouter(prefix="/a")


def shell(cmd):
    subprocess.run(cmd, shell=True)


@router.post("/shell")
def shell_a(cmd: str):
    shell(cmd)


@router.post("/run")
def run_a(cmd: str):
    service.run(cmd)


@router.get("/users/{user_id}", response_model=UserOut)
def read_user(user_id: int):
    return {"id": user_id}


@router.get("/admin/stats")
def admin_stats(user=Depends(get_admin)):
    return {"ok": True}
`,
  'app/b.py': `from fastapi import APIRouter

from app.deps import CurrentUser
from app.service import lookup, run

router = APIRouter(prefix="/b")


@router.post("/run")
def run_b(cmd: str, user: CurrentUser):
    run(cmd)


@router.get("/find")
def find(name: str, user: CurrentUser):
    return lookup(None, name)


@router.get("/items")
def items(user: CurrentUser):
    return []


@router.get("/orders")
def orders():
    return []

`,
  'app/c.py': `from fastapi import APIRouter

from app.a import shell

router = APIRouter(prefix="/c")


@router.post("/shell")
def shell_c(cmd: str):
    shell(cmd)
`,
  'app/main.py': `from fastapi import FastAPI

from app import a, b, c

app = FastAPI()
app.include_router(a.router)
app.include_router(b.router)
app.include_router(c.router)


@app.post("/login")
def login(username: str, password: str):
    return {"token": username}
`,
};

describe('EngineSession: edits that change the route graph re-run the rules only where needed', () => {
  it('each cold edit gives what a full recompute gives, re-running only the changed routes', async () => {
    const graph = await graphEditSession('rescan', RESCAN_PROJECT);
    const { session } = graph;
    const edit = async (rel: string, from: string, to: string, what: string) => {
      await graph.edit(rel, from, to, what);
      assert.ok(session.lastRescan, `${what}: the rules re-ran where needed, not everywhere`);
      return session.lastRescan.changedRoutes;
    };
    const codes = () => session.findings().map((f) => `${f.code} ${f.route?.path ?? f.file}`);
    const routes = session.analysis().records.length;
    assert.ok(codes().includes('INJ002 /a/run'));
    assert.ok(codes().includes('AUTH002 /b/orders'));

    // /a/run gets authenticated: the sink it shares with /b/run stays its own (first of two
    // equally exposed routes); nothing else is re-run.
    const withAuth = '@router.post("/run", dependencies=[Depends(get_current_user)])';
    assert.equal(await edit('app/a.py', '@router.post("/run")', withAuth, 'a route protected'), 1);
    // /b/run becomes public: it now reaches the sink first by exposure; router b is no longer
    // mostly protected, so AUTH002 leaves /b/orders (a route that did not change).
    await edit(
      'app/b.py',
      'def run_b(cmd: str, user: CurrentUser):',
      'def run_b(cmd: str):',
      'b public',
    );
    assert.ok(codes().includes('INJ002 /b/run'));
    assert.ok(!codes().includes('AUTH002 /b/orders'));
    await edit('app/a.py', withAuth, '@router.post("/run")', 'a public again');
    assert.ok(codes().includes('INJ002 /a/run'));
    // A sink in the edited module that a route elsewhere reaches too (not re-run): when the
    // route that had it gets protected, the other one, still public, has it.
    assert.ok(codes().includes('INJ002 /a/shell'));
    const shellAuth = '@router.post("/shell", dependencies=[Depends(get_current_user)])';
    assert.equal(await edit('app/a.py', '@router.post("/shell")', shellAuth, 'shell protected'), 1);
    assert.ok(codes().includes('INJ002 /c/shell'));
    await edit('app/a.py', shellAuth, '@router.post("/shell")', 'shell public again');
    assert.ok(codes().includes('INJ002 /a/shell'));
    // A dependency stops checking the role: only the route using it changes.
    const changed = await edit(
      'app/deps.py',
      'if not user.get("admin"):',
      'if False:',
      'role check off',
    );
    assert.ok(changed < routes, `${changed} of ${routes} routes re-run`);
    // A response model in another module gains a password field (DATA001).
    await edit('app/models.py', '    email: str', '    password: str', 'model field');
    assert.ok(codes().includes('DATA001 /a/users/{user_id}'));
    // The app gets a rate limiter: RATE001 reads the app's middleware.
    await edit(
      'app/main.py',
      'app = FastAPI()',
      'app = FastAPI(); app.add_middleware(SlowAPIMiddleware)',
      'middleware added',
    );
    assert.ok(!codes().some((c) => c.startsWith('RATE001')));
    // The sink's module gets another import and its sink goes away in the same edit: the
    // routes whose handlers call into it (by module or by name) are re-run.
    const shellRun = 'import subprocess\n\n\ndef run(cmd):\n    subprocess.run(cmd, shell=True)';
    const listRun =
      'import shlex, subprocess\n\n\ndef run(cmd):\n    subprocess.run(["echo", cmd])';
    await edit('app/service.py', shellRun, listRun, 'sink removed');
    assert.ok(!codes().some((c) => c.startsWith('INJ002 /a/run') || c.startsWith('INJ002 /b/run')));
    await edit('app/service.py', listRun, shellRun, 'sink back');
    assert.ok(codes().includes('INJ002 /a/run'));
    // Lines added (the file-level comparison) and a router's routes changed.
    await edit(
      'app/a.py',
      '@router.get("/admin/stats")',
      '@router.get("/late")\ndef late():\n    return {}\n\n\n@router.get("/admin/stats")',
      'a route added',
    );
    await edit('app/b.py', 'def items(user: CurrentUser):', 'def items():', 'b mostly public');
    await edit('app/b.py', 'def items():', 'def items(user: CurrentUser):', 'b protected again');
  });
});

/**
 * A project for graph edits that the workspace passes redo only in part (combine.ts): routers
 * in several modules, dependencies and an Annotated alias in a package of their own, a router
 * reached through a package's attribute (`zone.health.router`; `app/zone/` comes after
 * `app/main.py`, so the include is replayed before the router's own module is visited),
 * middleware, a sub-app. Placeholder statements (`_slot = None`) are swapped for registrations so that most edits
 * keep the file's line count (names judged one by one); others add or remove lines (file by
 * file).
 */
const COMBINE_PROJECT: Record<string, string> = {
  'app/__init__.py': '',
  'app/core/__init__.py': '',
  'app/core/security.py': `from typing import Annotated

from fastapi import Depends, HTTPException
from fastapi.security import OAuth2PasswordBearer

oauth2_scheme = OAuth2PasswordBearer(tokenUrl="token")


def get_current_user(token: str = Depends(oauth2_scheme)):
    if not token:
        raise HTTPException(status_code=401, detail="Not authenticated")
    return {"token": token}


def require_admin(user=Depends(get_current_user)):
    if not user.get("admin"):
        raise HTTPException(status_code=403, detail="Not an admin")
    return user


def get_db():
    return None


CurrentUser = Annotated[dict, Depends(get_current_user)]
AdminUser = Annotated[dict, Depends(require_admin)]
`,
  'app/core/config.py': `V1 = "/v1"
DAILY = "/daily"
`,
  'app/core/handlers.py': `def probe():
    return {"ok": True}
`,
  'app/core/middleware.py': `from fastapi.responses import JSONResponse
from starlette.middleware.base import BaseHTTPMiddleware


class TokenMiddleware(BaseHTTPMiddleware):
    async def dispatch(self, request, call_next):
        if not request.headers.get("authorization"):
            return JSONResponse({"detail": "no"}, status_code=401)
        return await call_next(request)
`,
  'app/api/__init__.py': '',
  'app/api/items.py': `from fastapi import APIRouter, Depends

from app.core.security import CurrentUser, get_current_user, get_db

router = APIRouter(prefix="/items")


@router.get("/list")
def list_items(db=Depends(get_db)):
    return []


@router.get("/mine")
def my_items(user: CurrentUser):
    return []


@router.post("/moving")
def moving(user=Depends(get_current_user)):
    return {}
`,
  'app/api/users.py': `from fastapi import APIRouter, Depends

from app.core.handlers import probe
from app.core.security import AdminUser, get_current_user

router = APIRouter(prefix="/users", dependencies=[Depends(get_current_user)])
_slot_note = None
router.add_api_route("/probe", probe)


@router.get("/me")
def me():
    return {}


@router.delete("/{user_id}")
def delete_user(user_id: int, admin: AdminUser):
    return {}


_slot = None
`,
  'app/zone/health.py': `from fastapi import APIRouter

router = APIRouter(prefix="/health")


@router.get("/ping")
def ping():
    return {"ok": True}


_slot = None
_slot_handler = None
`,
  'app/zone/__init__.py': '',
  'app/api/reports.py': `from fastapi import APIRouter

from app.core.config import DAILY

router = APIRouter(prefix="/reports")


@router.get(DAILY)
def daily():
    return []
`,
  'app/main.py': `from fastapi import Depends, FastAPI

from app import zone
from app.api import items, reports, users
from app.core.config import V1
from app.core.middleware import TokenMiddleware
from app.core.security import get_current_user

app = FastAPI()
app.include_router(items.router)
app.include_router(users.router, prefix=V1)
app.include_router(zone.health.router)
_slot_include = None
_slot_middleware = None

admin_app = FastAPI()
admin_app.include_router(reports.router)
app.mount("/admin", admin_app)
`,
  'app/plain.py': `def helper(x):
    return x
`,
};

describe('EngineSession: a package made or unmade during the session', () => {
  it('an `__init__.py` that re-exports a router, added and removed', async () => {
    // `from app.api import router` finds the router only through `app/api/__init__.py`: without
    // it the router is included by no app. Module names are kept per file between edits while
    // the package layout stands (session.ts), so its appearing and going must be seen.
    const dir = tmpDir('package');
    const files: Record<string, string> = {
      'app/__init__.py': '',
      'app/main.py':
        'from fastapi import FastAPI\nfrom app.api import router\n\napp = FastAPI()\napp.include_router(router, prefix="/v1")\n',
      'app/api/routes.py':
        'from fastapi import APIRouter\n\nrouter = APIRouter()\n\n\n@router.delete("/users/{user_id}")\ndef delete_user(user_id: int):\n    return {"deleted": user_id}\n',
    };
    for (const [rel, text] of Object.entries(files)) {
      fs.mkdirSync(path.dirname(path.join(dir, rel)), { recursive: true });
      fs.writeFileSync(path.join(dir, rel), text);
    }
    const session = new EngineSession({ roots: [dir], cwd: dir, threads: 1 });
    await session.loadAll();
    session.findings();
    const paths = () => session.analysis().report.routes.map((r) => r.path);
    const none = new Map<string, string>();
    await assertSameAsFull(session, dir, none, 'before the package');
    assert.deepEqual(paths(), ['/users/{user_id}']);

    const init = path.join(dir, 'app', 'api', '__init__.py');
    fs.writeFileSync(init, 'from .routes import router\n');
    await session.updateFile(init, null);
    await assertSameAsFull(session, dir, none, '__init__.py added');
    assert.deepEqual(paths(), ['/v1/users/{user_id}']);

    fs.rmSync(init);
    session.removeFile(init);
    await assertSameAsFull(session, dir, none, '__init__.py removed');
    assert.deepEqual(paths(), ['/users/{user_id}']);
  });
});

describe('EngineSession: graph edits redo the workspace passes only where the edit reaches', () => {
  it('each edit gives what a full recompute gives, reusing routes it cannot reach', async () => {
    const graph = await graphEditSession('combine', COMBINE_PROJECT);
    const { session } = graph;
    /** Replace `from` by `to` in a file; the passes must have reused the previous analysis. */
    const edit = async (rel: string, from: string, to: string, what: string) => {
      await graph.edit(rel, from, to, what);
      const combine = session.lastCombine;
      assert.equal(combine?.incremental, true, `${what}: the previous analysis was reused`);
      return combine as { byName: boolean; reusedRoutes: number; routes: number };
    };
    const route = (p: string) => session.analysis().report.routes.find((r) => r.path === p);
    const exposure = (p: string) => route(p)?.exposure;
    assert.equal(exposure('/v1/users/{user_id}'), 'scoped');
    assert.equal(exposure('/health/ping'), 'public');
    assert.equal(exposure('/admin/reports/daily'), 'public');

    // include_router added (in place of a placeholder) and removed.
    let c = await edit(
      'app/main.py',
      '_slot_include = None',
      'app.include_router(reports.router, prefix="/r")',
      'include_router added',
    );
    assert.ok(c.byName);
    assert.ok(route('/r/reports/daily'));
    assert.ok(c.reusedRoutes > 0, 'routes of the other routers are taken over');
    await edit(
      'app/main.py',
      'app.include_router(reports.router, prefix="/r")',
      '_slot_include = None',
      'include_router removed',
    );
    assert.equal(route('/r/reports/daily'), undefined);
    // An include's prefix, a constant of another module: the include is evaluated again.
    c = await edit('app/core/config.py', 'V1 = "/v1"', 'V1 = "/v2"', 'include prefix changed');
    assert.ok(route('/v2/users/me'));
    assert.ok(c.byName && c.reusedRoutes > 0);
    await edit('app/core/config.py', 'V1 = "/v2"', 'V1 = "/v1"', 'include prefix back');
    // A route's path, a constant of another module: its decorator is evaluated again.
    await edit('app/core/config.py', 'DAILY = "/daily"', 'DAILY = "/day"', 'route path changed');
    assert.ok(route('/admin/reports/day'));
    await edit('app/core/config.py', 'DAILY = "/day"', 'DAILY = "/daily"', 'route path back');
    // A router's dependencies.
    c = await edit(
      'app/api/users.py',
      'dependencies=[Depends(get_current_user)]',
      'dependencies=[]',
      'router dependencies removed',
    );
    assert.equal(exposure('/v1/users/me'), 'public');
    assert.ok(c.reusedRoutes > 0);
    await edit(
      'app/api/users.py',
      'dependencies=[]',
      'dependencies=[Depends(get_current_user)]',
      'router dependencies back',
    );
    // A comment marks a route registered in the file public (its handler is elsewhere).
    await edit(
      'app/api/users.py',
      '_slot_note = None',
      '# fastapi-lens: public load balancer probe',
      'marked public',
    );
    assert.equal(route('/v1/users/probe')?.publicReason, 'load balancer probe');
    // A route's dependencies.
    c = await edit(
      'app/api/items.py',
      '@router.get("/list")',
      '@router.get("/list", dependencies=[Depends(get_current_user)])',
      'route dependency added',
    );
    assert.equal(exposure('/items/list'), 'authenticated');
    assert.equal(c.reusedRoutes, c.routes - 1, 'only the edited route is built again');
    // A dependency's body: the role check goes, and comes back.
    await edit('app/core/security.py', 'if not user.get("admin"):', 'if False:', 'role check off');
    assert.equal(exposure('/v1/users/{user_id}'), 'authenticated');
    await edit('app/core/security.py', 'if False:', 'if not user.get("admin"):', 'role check on');
    assert.equal(exposure('/v1/users/{user_id}'), 'scoped');
    // The Annotated alias points at another dependency.
    await edit(
      'app/core/security.py',
      'AdminUser = Annotated[dict, Depends(require_admin)]',
      'AdminUser = Annotated[dict, Depends(get_db)]',
      'alias changed',
    );
    assert.equal(exposure('/v1/users/{user_id}'), 'authenticated');
    await edit(
      'app/core/security.py',
      'AdminUser = Annotated[dict, Depends(get_db)]',
      'AdminUser = Annotated[dict, Depends(require_admin)]',
      'alias back',
    );
    // A router reached through a package's attribute (`zone.health.router`): its prefix.
    c = await edit(
      'app/zone/health.py',
      'prefix="/health"',
      'prefix="/healthz"',
      'prefix of a router reached through a package',
    );
    assert.ok(route('/healthz/ping'));
    assert.ok(c.byName && c.reusedRoutes > 0);
    // Middleware and app-level dependencies.
    await edit(
      'app/main.py',
      '_slot_middleware = None',
      'app.add_middleware(TokenMiddleware)',
      'middleware added',
    );
    assert.equal(exposure('/healthz/ping'), 'middleware');
    assert.equal(exposure('/admin/reports/daily'), 'middleware');
    await edit(
      'app/main.py',
      'app.add_middleware(TokenMiddleware)',
      '_slot_middleware = None',
      'middleware removed',
    );
    await edit(
      'app/main.py',
      'app = FastAPI()',
      'app = FastAPI(dependencies=[Depends(get_current_user)])',
      'app-level dependency',
    );
    assert.equal(exposure('/healthz/ping'), 'authenticated');
    assert.equal(exposure('/admin/reports/daily'), 'public');
    await edit(
      'app/main.py',
      'app = FastAPI(dependencies=[Depends(get_current_user)])',
      'app = FastAPI()',
      'app-level dependency removed',
    );
    // A route moves to another module: gone from one (lines removed: file by file), added to
    // the other (in place of placeholders: name by name).
    const moving =
      '@router.post("/moving")\ndef moving(user=Depends(get_current_user)):\n    return {}\n';
    c = await edit('app/api/items.py', moving, '', 'route moved away');
    assert.ok(!c.byName);
    assert.ok(c.reusedRoutes > 0);
    await edit(
      'app/zone/health.py',
      '_slot = None\n_slot_handler = None',
      '@router.post("/moving")\ndef moving(): return {}',
      'route moved in',
    );
    assert.equal(exposure('/healthz/moving'), 'public');
    // A dependency renamed (its users now name something undefined), and back.
    await edit(
      'app/core/security.py',
      'def get_current_user(',
      'def current_user(',
      'dependency renamed',
    );
    assert.equal(exposure('/items/mine'), 'unknown');
    await edit(
      'app/core/security.py',
      'def current_user(',
      'def get_current_user(',
      'dependency renamed back',
    );
    assert.equal(exposure('/items/mine'), 'authenticated');
  });
});

describe('EngineSession: random edits of the example app', () => {
  it('every file, warm or cold, equals a full scan', async () => {
    const dir = tmpDir('shop');
    fs.cpSync(path.join(ROOT, 'examples', 'shop-api'), dir, { recursive: true });
    const session = new EngineSession({ roots: [dir], cwd: dir, threads: 1 });
    await session.loadAll();
    session.findings();
    const texts = new Map<string, string>();
    const files = pythonFiles(dir);
    const r = rng(3);
    const paths = new Set<string>();
    for (let i = 0; i < 40; i++) {
      const file = files[r(files.length)];
      const text = texts.get(file) ?? fs.readFileSync(file, 'utf8');
      if (!texts.has(file)) {
        texts.set(file, text);
        await session.updateFile(file, text);
      }
      const next = randomEdit(text, r);
      if (next === text) continue;
      texts.set(file, next);
      await session.updateFile(file, next);
      paths.add(session.lastUpdate?.path ?? '');
      await assertSameAsFull(session, dir, texts, `edit ${i} of ${path.relative(dir, file)}`);
    }
    assert.ok(paths.has('warm'));
  });

  it('with lone CR and mixed line endings, every edit equals a full scan', async () => {
    for (const endings of ['cr', 'mixed'] as const) {
      const dir = tmpDir(`shop-${endings}`);
      fs.cpSync(path.join(ROOT, 'examples', 'shop-api'), dir, { recursive: true });
      const files = pythonFiles(dir);
      for (const f of files) fs.writeFileSync(f, withEndings(fs.readFileSync(f, 'utf8'), endings));
      const session = new EngineSession({ roots: [dir], cwd: dir, threads: 1 });
      await session.loadAll();
      session.findings();
      const texts = new Map<string, string>();
      const lfTexts = new Map<string, string>();
      const r = rng(endings === 'cr' ? 5 : 6);
      const paths = new Set<string>();
      for (let i = 0; i < 25; i++) {
        const file = files[r(files.length)];
        if (!texts.has(file)) {
          const text = fs.readFileSync(file, 'utf8');
          texts.set(file, text);
          lfTexts.set(file, text.replace(/\r\n?/g, '\n'));
          await session.updateFile(file, text);
        }
        const lf = randomEdit(lfTexts.get(file) as string, r);
        const next = withEndings(lf, endings);
        if (next === texts.get(file)) continue;
        lfTexts.set(file, lf);
        texts.set(file, next);
        await session.updateFile(file, next);
        paths.add(session.lastUpdate?.path ?? '');
        await assertSameAsFull(
          session,
          dir,
          texts,
          `${endings}: edit ${i} of ${path.relative(dir, file)}`,
        );
      }
      assert.ok(paths.has('warm'), endings);
    }
  });
});

describe('facts cache', () => {
  it('a restart takes unchanged files from the cache and finds the same', async () => {
    const dir = tmpDir('cache');
    fs.cpSync(path.join(ROOT, 'examples', 'shop-api'), dir, { recursive: true });
    const cacheDir = tmpDir('cache-dir');
    const first = new EngineSession({ roots: [dir], cwd: dir, threads: 1, cacheDir });
    await first.loadAll();
    const expected = first.findings();
    const routes = first.analysis().report.routes;
    assert.equal(first.lastLoad.fromCache, 0);
    first.dispose(); // writes the cache
    assert.equal(fs.readdirSync(cacheDir).length, 1);

    const second = new EngineSession({ roots: [dir], cwd: dir, threads: 1, cacheDir });
    await second.loadAll();
    assert.equal(second.lastLoad.analysed, 0);
    assert.ok(second.lastLoad.fromCache > 5);
    assert.deepEqual(second.analysis().report.routes, routes);
    assert.deepEqual(second.findings(), expected);
    second.dispose();

    // A file changed on disk since: analysed again, the others still from the cache.
    const items = path.join(dir, 'app', 'api', 'routes', 'items.py');
    fs.appendFileSync(items, '\n\n@router.get("/late")\ndef late():\n    return {}\n');
    const third = new EngineSession({ roots: [dir], cwd: dir, threads: 1, cacheDir });
    await third.loadAll();
    assert.equal(third.lastLoad.analysed, 1);
    const full = await scanWorkspace({ roots: [dir], cwd: dir, threads: 1 });
    assert.deepEqual(third.analysis().report.routes, full.analysis.report.routes);
    assert.deepEqual(third.findings(), full.findings);
    third.dispose();
  });
});
