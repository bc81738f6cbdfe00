import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { after, before, describe, it } from 'node:test';
import type {
  CodeLens,
  TextEdit as LspTextEdit,
  WorkDoneProgressBegin,
  WorkDoneProgressReport,
} from 'vscode-languageserver-protocol';
import type { Finding } from '../server/src/engine/findings';
import {
  EXPORT_REQUEST,
  FIX_ALL_KIND,
  ROUTES_REQUEST,
  SCAN_WORKSPACE_REQUEST,
  type ExportResult,
  type LensSettings,
  type RoutesResult,
  type ScanWorkspaceResult,
} from '../server/src/protocol';
import {
  applyWorkspaceEdit,
  buildServerIfMissing,
  Client,
  editsOf,
  engineFindings,
  hoverText,
  keepsLines,
  movedRange,
  msg,
  parsesWithPython,
  ROOT,
  until,
  uriOf,
} from './lspClient';

/**
 * End to end over stdio: spawn the bundled server (dist/server.js), drive it like an editor
 * with vscode-jsonrpc, and check diagnostics, hovers, code lenses and code actions. Every quick
 * fix offered on the fixture projects is applied to a copy of the project, parsed by Python's
 * own parser and re-analysed by the engine (its finding is gone, nothing new appears, no line is
 * lost); re-requesting code actions on the edited buffer, with the old diagnostic or on the
 * edited lines, no longer offers it. Fix-all is applied round after round on every file of the
 * fixture projects until it offers nothing: it converges, parses, deletes no line and applies
 * only fixes the engine declares safe. The client lives in `lspClient.ts`.
 */

const tmpRoots: string[] = [];
/** A temp copy of a folder under test/fixtures (the tests edit files). */
function copyFixture(rel: string): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), `lens-lsp-${path.basename(rel)}-`));
  tmpRoots.push(dir);
  fs.cpSync(path.join(__dirname, 'fixtures', rel), dir, { recursive: true });
  return dir;
}
function copyProject(name: string): string {
  return copyFixture(path.join('lsp', name));
}

const clients: Client[] = [];
async function startClient(
  root: string,
  settings: Partial<LensSettings> = {},
  args?: string[],
): Promise<Client> {
  const c = await Client.start(root, settings, args);
  clients.push(c);
  return c;
}

before(buildServerIfMissing);
after(async () => {
  for (const c of clients) await c.stop();
  for (const d of tmpRoots) fs.rmSync(d, { recursive: true, force: true });
});

/** Every .py file under a folder, sorted. */
function pyFiles(dir: string): string[] {
  const out: string[] = [];
  for (const e of fs.readdirSync(dir, { withFileTypes: true, recursive: true }))
    if (e.isFile() && e.name.endsWith('.py')) out.push(path.join(e.parentPath, e.name));
  return out.sort();
}

/**
 * Match the edits of a fix-all action to the engine's fixes of the file's findings: how many
 * safe fixes it applies, and the edits that belong to an unsafe fix, to no fix, or to a fix
 * only partly applied.
 */
function safeFixesApplied(
  edits: LspTextEdit[],
  findings: Finding[],
): { safe: number; unsafe: string[]; unmatched: string[]; partial: string[] } {
  const key = (line: number, col: number, endLine: number, endCol: number, text: string) =>
    `${line}:${col}-${endLine}:${endCol} ${JSON.stringify(text)}`;
  const given = new Set(
    edits.map((e) =>
      key(
        e.range.start.line,
        e.range.start.character,
        e.range.end.line,
        e.range.end.character,
        e.newText,
      ),
    ),
  );
  const claimed = new Set<string>();
  const out = {
    safe: 0,
    unsafe: [] as string[],
    unmatched: [] as string[],
    partial: [] as string[],
  };
  for (const f of findings)
    for (const fix of f.fixes) {
      const keys = fix.edits.map((e) =>
        key(e.line - 1, e.column, e.endLine - 1, e.endColumn, e.newText),
      );
      const hits = keys.filter((k) => given.has(k));
      if (hits.length === 0) continue;
      const label = `${f.code} line ${f.line}: ${fix.title} (${fix.safety})`;
      if (fix.safety !== 'safe') out.unsafe.push(label);
      else if (hits.length !== keys.length) out.partial.push(label);
      else out.safe++;
      for (const k of hits) claimed.add(k);
    }
  for (const k of given) if (!claimed.has(k)) out.unmatched.push(k);
  return out;
}

// ---------------------------------------------------------------------------------------------

describe('language server over stdio', { timeout: 120000 }, () => {
  it('publishes workspace diagnostics with code, docs link, severity, related info and data', async () => {
    const dir = copyProject('classic');
    const c = await startClient(dir);
    const users = await c.waitFor(path.join(dir, 'users.py'), (d) => d.length === 2);
    const byLine = new Map(users.map((d) => [d.range.start.line, d]));
    const post = byLine.get(17);
    const get = byLine.get(10);
    assert.ok(post && get, JSON.stringify(users.map((d) => d.range)));
    assert.equal(post.code, 'AUTH001');
    assert.equal(post.severity, 1, 'public POST is an error');
    assert.equal(get.severity, 2, 'public GET is a warning');
    assert.deepEqual(post.range.start, { line: 17, character: 0 });
    assert.equal(post.source, 'fastapi-lens');
    assert.match(post.codeDescription?.href ?? '', /AUTH001\.md$/);
    assert.match(msg(post), /POST \/users\/ is public/);
    assert.equal((post.data as { code: string }).code, 'AUTH001');
    const orders = await c.waitFor(path.join(dir, 'orders.py'), (d) => d.length === 2);
    assert.deepEqual(orders.map((d) => d.code).sort(), ['AUTH002', 'DESER001']);
    // The YAML finding sits in an authenticated handler: its chain is related information.
    const deser = orders.find((d) => d.code === 'DESER001');
    const related = deser?.relatedInformation ?? [];
    assert.ok(
      related.some(
        (r) =>
          /auth: `get_current_user` at parameter level/.test(r.message) &&
          r.location.uri.endsWith('/auth.py'),
      ),
      JSON.stringify(related),
    );
    assert.ok(related.some((r) => /route POST \/orders\/import \(authenticated\)/.test(r.message)));
    assert.equal(deser?.severity, 2, 'an error lowered one level behind authentication');
    // `public-routes = ["/status"]` in pyproject.toml: main.py has nothing to report.
    assert.equal(c.diagnostics.get(uriOf(path.join(dir, 'main.py'))), undefined);
    await until(() => c.routesChanged.length > 0, 'routesChanged notification');
    const annotated = copyProject('annotated');
    const a = await startClient(annotated);
    const items = await a.waitFor(
      path.join(annotated, 'app/api/routes/items.py'),
      (d) => d.length === 1,
    );
    assert.equal(items[0].code, 'AUTH002');
    const withRelated = await a.waitFor(
      path.join(annotated, 'app/api/routes/utils.py'),
      (d) => d.length === 2,
    );
    assert.ok(withRelated.every((d) => d.code === 'AUTH001'));
  });

  it('hovers: route card on the decorator and handler name, dependency card on Depends(...)', async () => {
    const dir = copyProject('classic');
    const c = await startClient(dir);
    const orders = path.join(dir, 'orders.py');
    await c.waitFor(orders, (d) => d.length === 2);
    await c.open(orders);
    const deco = hoverText(await c.hover(orders, 25, 3));
    assert.match(deco, /DELETE `\/orders\/\{order_id\}`/);
    assert.match(deco, /public/);
    assert.match(deco, /AUTH002/);
    const handler = hoverText(await c.hover(orders, 10, 6));
    assert.match(handler, /GET `\/orders\/`/);
    assert.match(handler, /`get_current_user` at \*\*parameter\*\* level/);
    assert.match(handler, /auth\.py:16\]\(file:\/\/.*auth\.py#L16\)/);
    const depends = hoverText(await c.hover(orders, 10, 50));
    assert.match(depends, /`get_current_user`\*\* — authentication dependency/);
    assert.match(depends, /protects 3 routes/);
    assert.match(depends, /chain: `get_current_user` → `bearer`/);
    assert.equal(await c.hover(orders, 17, 4), null, 'no hover inside a handler body');
    const lenses = (await c.conn.sendRequest('textDocument/codeLens', {
      textDocument: { uri: uriOf(orders) },
    })) as CodeLens[];
    assert.deepEqual(
      lenses.map((l) => `${l.range.start.line}:${l.command?.title}`),
      [
        '9:🔒 get_current_user · parameter',
        '14:🔒 get_current_user · parameter',
        '20:🔒 get_current_user · parameter',
        '25:⚠ public · DELETE',
      ],
    );
    const card = await c.conn.sendRequest('workspace/executeCommand', {
      command: lenses[3].command?.command,
      arguments: lenses[3].command?.arguments,
    });
    assert.match(String(card), /DELETE `\/orders\/\{order_id\}`/);
    // An Annotated alias in a signature is a dependency too.
    const annotated = copyProject('annotated');
    const a = await startClient(annotated);
    const items = path.join(annotated, 'app/api/routes/items.py');
    await a.waitFor(items, (d) => d.length === 1);
    await a.open(items);
    const alias = hoverText(await a.hover(items, 13, 35));
    assert.match(alias, /`CurrentUser`\*\* — authentication dependency/);
    assert.match(alias, /chain: `CurrentUser` → `get_current_user` → `reusable_oauth2`/);
    assert.match(alias, /GET `\/api\/v1\/items\/`\*\* — authenticated/);
  });

  it('offers the quick fixes, and every one applied parses, fixes its finding and adds none', async () => {
    for (const name of ['classic', 'annotated', 'noauth']) {
      const dir = copyProject(name);
      const c = await startClient(dir);
      const baseline = await engineFindings(dir);
      const files = [...new Set(baseline.map((f) => f.file))];
      assert.ok(files.length > 0, `${name} has findings`);
      let applied = 0;
      for (const rel of files) {
        const abs = path.join(dir, rel);
        const expected = baseline.filter((f) => f.file === rel).length;
        const diags = await c.waitFor(abs, (d) => d.length === expected);
        await c.open(abs);
        for (const diag of diags) {
          const actions = await c.codeActions(abs, [diag]);
          const titles = actions.map((a) => a.title);
          assert.ok(
            titles.some((t) => t.startsWith(`Show documentation for ${diag.code}`)),
            titles.join('\n'),
          );
          assert.ok(
            titles.some((t) => t.startsWith(`Ignore ${diag.code}`)),
            titles.join('\n'),
          );
          if (diag.code === 'AUTH001' || diag.code === 'AUTH002') {
            assert.ok(
              titles.some((t) => t.startsWith('Mark ')),
              titles.join('\n'),
            );
            if (name === 'noauth')
              assert.ok(
                titles.some((t) => t.startsWith('Scaffold ')),
                titles.join('\n'),
              );
            else {
              assert.ok(
                titles.some((t) => /add parameter/.test(t)),
                titles.join('\n'),
              );
              assert.ok(
                titles.some((t) => /to the decorator/.test(t)),
                titles.join('\n'),
              );
            }
          }
          const finding = baseline.find(
            (f) => f.file === rel && f.line - 1 === diag.range.start.line && f.code === diag.code,
          );
          assert.ok(finding, `engine finding for ${diag.code}`);
          for (const action of actions) {
            if (!action.edit || action.kind !== 'quickfix') continue;
            applied++;
            const what = `${name}/${rel}:${diag.range.start.line + 1} ${diag.code}: ${action.title}`;
            const edited = applyWorkspaceEdit(
              action.edit,
              (p) => c.texts.get(uriOf(p)) ?? fs.readFileSync(p, 'utf8'),
            );
            // 1. Python parses every touched file; no existing line is deleted.
            for (const [file, text] of edited) {
              const err = parsesWithPython(text);
              assert.equal(err, null, `${what}: ${file} does not parse:\n${err}\n${text}`);
              if (fs.existsSync(file)) {
                const lost = keepsLines(fs.readFileSync(file, 'utf8'), text);
                assert.equal(lost, null, `${what}: deleted the line ${JSON.stringify(lost)}`);
              }
            }
            // 2. The engine on the edited project: the finding is gone, nothing new.
            const copy = fs.mkdtempSync(path.join(os.tmpdir(), 'lens-lsp-applied-'));
            tmpRoots.push(copy);
            fs.cpSync(dir, copy, { recursive: true });
            for (const [file, text] of edited)
              fs.writeFileSync(path.join(copy, path.relative(dir, file)), text);
            const afterFix = await engineFindings(copy);
            const same = (f: Finding) =>
              f.code === finding.code &&
              f.file === finding.file &&
              (f.route
                ? f.route.path === finding.route?.path &&
                  f.route.methods.join() === finding.route?.methods.join()
                : f.message === finding.message);
            assert.ok(!afterFix.some(same), `${what}: the finding is still reported`);
            const key = (f: Finding) =>
              `${f.code}|${f.file}|${f.route?.methods.join()} ${f.route?.path ?? f.message}`;
            const before = new Set(baseline.map(key));
            const added = afterFix.filter((f) => !before.has(key(f)));
            assert.deepEqual(added.map(key), [], `${what}: new findings`);
            // 3. Applied in the editor, the same fix is not offered again.
            const opened: string[] = [];
            for (const [file, text] of edited) {
              if (c.texts.has(uriOf(file))) await c.change(file, text);
              else {
                await c.open(file, text);
                opened.push(file);
              }
            }
            const again = await c.codeActions(abs, [diag]);
            assert.ok(
              !again.some((a) => a.title === action.title && a.edit),
              `${what}: offered twice`,
            );
            // Asked again on the edited lines (Ctrl+. there, no stale diagnostic): the server
            // recomputes its findings and must not offer the same fix again either.
            const moved = movedRange(diag.range, editsOf(action.edit, abs));
            const atPlace = await c.codeActionsAt(abs, moved);
            assert.ok(
              !atPlace.some((a) => a.title === action.title && a.edit),
              `${what}: offered again at lines ${moved.start.line + 1}-${moved.end.line + 1}`,
            );
            for (const file of opened) await c.close(file);
            for (const [file] of edited)
              if (c.texts.has(uriOf(file))) await c.change(file, fs.readFileSync(file, 'utf8'));
          }
        }
      }
      assert.ok(applied >= 5, `${name}: applied ${applied} fixes`);
    }
  });

  it('fix-all applies the safe fixes of a file', async () => {
    const dir = copyProject('classic');
    const c = await startClient(dir);
    const orders = path.join(dir, 'orders.py');
    await c.waitFor(orders, (d) => d.length === 2);
    await c.open(orders);
    const all = await c.codeActions(orders, [], [FIX_ALL_KIND]);
    assert.equal(all.length, 1);
    assert.equal(all[0].kind, FIX_ALL_KIND);
    const edited = applyWorkspaceEdit(all[0].edit!, (p) => fs.readFileSync(p, 'utf8'));
    assert.match(edited.get(orders) ?? '', /yaml\.safe_load\(body\)/);
    const quick = await c.codeActions(
      orders,
      c.diagnostics.get(uriOf(orders))!.filter((d) => d.code === 'DESER001'),
    );
    const preferred = quick.find((a) => a.isPreferred);
    assert.equal(preferred?.title, 'Use yaml.safe_load');
    assert.ok(
      !quick.some((a) => a.isPreferred && /Require|Scaffold/.test(a.title)),
      'auth fixes are never preferred',
    );
    // Scan Current File: that file's findings.
    const one = (await c.conn.sendRequest(SCAN_WORKSPACE_REQUEST, {
      uri: uriOf(orders),
    })) as ScanWorkspaceResult;
    assert.deepEqual(one.findings.map((f) => f.code).sort(), ['AUTH002', 'DESER001']);
    assert.equal(one.files, 1);
  });

  it('fix-all converges: repeated until it offers nothing, each round parses, keeps every line and applies only safe fixes', async (t) => {
    // The fixture projects with fixes: safe rule fixes live in the rule fixtures (one workspace).
    const projects = ['lsp/classic', 'lsp/annotated', 'lsp/noauth', 'rules'];
    const MAX_ROUNDS = 3;
    const stats = { files: 0, fixedFiles: 0, rounds: 0, fixes: 0, maxRounds: 0 };
    for (const rel of projects) {
      const dir = copyFixture(rel);
      const baseline = await engineFindings(dir);
      const c = await startClient(dir);
      // The first publication comes after the initial load.
      const first = baseline[0];
      assert.ok(first, `${rel} has findings`);
      await c.waitFor(path.join(dir, first.file), (d) => d.length > 0, 60000);
      for (const abs of pyFiles(dir)) {
        stats.files++;
        const original = fs.readFileSync(abs, 'utf8');
        let rounds = 0;
        for (;;) {
          const actions = await c.codeActions(abs, [], [FIX_ALL_KIND]);
          if (actions.length === 0) break;
          rounds++;
          const what = `${rel}/${path.relative(dir, abs)} fix-all round ${rounds}`;
          assert.ok(rounds <= MAX_ROUNDS, `${what}: still offered after ${MAX_ROUNDS} rounds`);
          assert.equal(actions.length, 1, `${what}: one fix-all action`);
          const [action] = actions;
          assert.equal(action.kind, FIX_ALL_KIND);
          assert.ok(action.edit, `${what}: has an edit`);
          const edited = applyWorkspaceEdit(action.edit, (p) => fs.readFileSync(p, 'utf8'));
          assert.deepEqual([...edited.keys()], [abs], `${what}: edits only its own file`);
          // Every edit belongs to a fix the engine declares safe, applied whole.
          const findings = (await engineFindings(dir)).filter(
            (f) => path.join(dir, f.file) === abs,
          );
          const applied = safeFixesApplied(editsOf(action.edit, abs), findings);
          assert.deepEqual(applied.unsafe, [], `${what}: applies fixes not declared safe`);
          assert.deepEqual(applied.unmatched, [], `${what}: edits no fix declares`);
          assert.deepEqual(applied.partial, [], `${what}: applies part of a fix`);
          stats.fixes += applied.safe;
          const before = fs.readFileSync(abs, 'utf8');
          const text = edited.get(abs) ?? '';
          assert.notEqual(text, before, `${what}: changes nothing`);
          const err = parsesWithPython(text);
          assert.equal(err, null, `${what}: does not parse:\n${err}\n${text}`);
          assert.equal(keepsLines(before, text), null, `${what}: deleted a line`);
          assert.equal(keepsLines(original, text), null, `${what}: deleted an original line`);
          // Applied in the editor and saved.
          fs.writeFileSync(abs, text);
          if (c.texts.has(uriOf(abs))) await c.change(abs, text);
          else await c.open(abs, text);
        }
        if (rounds > 0) {
          stats.fixedFiles++;
          stats.rounds += rounds;
          stats.maxRounds = Math.max(stats.maxRounds, rounds);
          await c.close(abs);
        }
      }
    }
    // The fixtures hold safe fixes in 5 files (DESER001, COOKIE001, SessionMiddleware).
    assert.ok(stats.fixedFiles >= 5, JSON.stringify(stats));
    t.diagnostic(`fix-all convergence: ${JSON.stringify(stats)}`);
  });

  it('updates the diagnostics of other files when a router dependency changes (cross-file)', async () => {
    const dir = copyProject('classic');
    const c = await startClient(dir);
    const users = path.join(dir, 'users.py');
    const main = path.join(dir, 'main.py');
    await c.waitFor(users, (d) => d.length === 2);
    await c.open(main);
    const text = fs.readFileSync(main, 'utf8');
    const protectedText = text
      .replace(
        'from fastapi import FastAPI',
        'from fastapi import Depends, FastAPI\n\nfrom auth import get_current_user',
      )
      .replace(
        'app.include_router(users.router)',
        'app.include_router(users.router, dependencies=[Depends(get_current_user)])',
      );
    await c.change(main, protectedText);
    await c.waitFor(users, (d) => d.length === 0);
    const hover = hoverText(await c.hover(users, 10, 1));
    assert.match(hover, /`get_current_user` at \*\*include\*\* level/);
    await c.change(main, text);
    await c.waitFor(users, (d) => d.length === 2);
  });

  it('answers fastapiLens/routes with the same JSON as `fastapi-lens routes --format json`', async () => {
    for (const name of ['classic', 'annotated']) {
      const dir = copyProject(name);
      const c = await startClient(dir);
      const result = (await c.conn.sendRequest(ROUTES_REQUEST, {})) as RoutesResult;
      assert.equal(result.rootUri, uriOf(dir));
      const cli = JSON.parse(
        execFileSync(
          process.execPath,
          [path.join(ROOT, 'bin', 'fastapi-lens.js'), 'routes', '--format', 'json'],
          {
            cwd: dir,
            encoding: 'utf8',
          },
        ),
      );
      const { rootUri: _rootUri, ...report } = result;
      const sortDiags = (r: { diagnostics: { file: string; message: string }[] }) =>
        [...r.diagnostics].sort((a, b) =>
          `${a.file}${a.message}`.localeCompare(`${b.file}${b.message}`),
        );
      assert.deepEqual(
        { ...report, diagnostics: sortDiags(report) },
        { ...cli, diagnostics: sortDiags(cli) },
      );
      const md = (await c.conn.sendRequest(EXPORT_REQUEST, {
        format: 'markdown',
        what: 'routes',
      })) as ExportResult;
      const cliMd = execFileSync(
        process.execPath,
        [path.join(ROOT, 'bin', 'fastapi-lens.js'), 'routes', '--format', 'markdown'],
        { cwd: dir, encoding: 'utf8' },
      );
      assert.equal(md.content, cliMd);
      const sarif = (await c.conn.sendRequest(EXPORT_REQUEST, {
        format: 'sarif',
        what: 'findings',
      })) as ExportResult;
      const log = JSON.parse(sarif.content);
      assert.equal(log.version, '2.1.0');
      assert.ok(log.runs[0].results.length > 0);
    }
  });

  it('scans the workspace with progress, answers requests meanwhile, and can be cancelled', async () => {
    const dir = copyProject('classic');
    // Enough files to take a while.
    const many = path.join(dir, 'generated');
    fs.mkdirSync(many);
    // Enough files (with some bulk) that a scan takes a while, few routes.
    const filler = Array.from(
      { length: 40 },
      (_, k) =>
        `\n\ndef helper_${k}(x, y=${k}):\n    total = [x * y for _ in range(${k})]\n    return {"k": ${k}, "total": sum(total)}\n`,
    ).join('');
    for (let i = 0; i < 150; i++)
      fs.writeFileSync(
        path.join(many, `m${i}.py`),
        `from fastapi import APIRouter\n\nrouter = APIRouter()\n${filler}\n\n@router.get("/r${i}")\ndef h(q: str = ""):\n    return {"q": q}\n`,
      );
    const c = await startClient(dir);
    await c.waitFor(path.join(dir, 'users.py'), (d) => d.length === 2, 60000);
    const token = 'scan-1';
    const scan = c.conn.sendRequest(SCAN_WORKSPACE_REQUEST, {
      workDoneToken: token,
    }) as Promise<ScanWorkspaceResult>;
    const order: string[] = [];
    void scan.then(() => order.push('scan'));
    // Asked once the scan is under way: answered before the scan ends.
    await until(() => c.progress.some((p) => p.token === token), 'scan progress');
    const hoverDuring = await c.hover(path.join(dir, 'orders.py'), 25, 3);
    order.push('hover');
    assert.match(hoverText(hoverDuring), /DELETE/);
    const result = await scan;
    assert.deepEqual(order, ['hover', 'scan'], 'the hover was answered during the scan');
    assert.equal(result.cancelled, false);
    assert.ok(result.files >= 155, `files: ${result.files}`);
    assert.ok(result.findings.some((f) => f.code === 'AUTH002'));
    const mine = c.progress
      .filter((p) => p.token === token)
      .map((p) => p.value as WorkDoneProgressBegin | WorkDoneProgressReport | { kind: 'end' });
    assert.equal(mine[0]?.kind, 'begin');
    assert.equal(mine[mine.length - 1]?.kind, 'end');
    assert.ok(mine.some((v) => v.kind === 'report' && /\d+\/\d+ files/.test(v.message ?? '')));
    // Cancelled: the request's cancellation token stops the scan.
    const { CancellationTokenSource } = await import('vscode-jsonrpc');
    const source = new CancellationTokenSource();
    const cancelToken = 'scan-2';
    const cancelled = c.conn.sendRequest(
      SCAN_WORKSPACE_REQUEST,
      { workDoneToken: cancelToken },
      source.token,
    ) as Promise<ScanWorkspaceResult>;
    await until(
      () =>
        c.progress.some(
          (p) => p.token === cancelToken && (p.value as { kind: string }).kind === 'report',
        ),
      'progress of the second scan',
    );
    source.cancel();
    const outcome = await cancelled.then(
      (r) => r,
      (err: { code?: number }) => ({ code: err.code }),
    );
    if ('cancelled' in outcome) assert.equal(outcome.cancelled, true, 'scan reports cancelled');
    else assert.equal(outcome.code, -32800, 'RequestCancelled');
    // Still alive and serving.
    const routes = (await c.conn.sendRequest(ROUTES_REQUEST, {})) as RoutesResult;
    assert.ok(routes.routes.length > 150);
  });

  it('survives binary and 20 MB files: a clear note, no crash', async () => {
    const dir = copyProject('classic');
    const binary = path.join(dir, 'blob.py');
    fs.writeFileSync(binary, Buffer.from([0x89, 0x50, 0x4e, 0x47, 0, 0, 0, 1, 2, 3]));
    const huge = path.join(dir, 'huge.py');
    const line = 'x = "' + 'a'.repeat(90) + '"\n';
    fs.writeFileSync(huge, line.repeat(Math.ceil((20 * 1024 * 1024) / line.length)));
    const c = await startClient(dir);
    const blobDiags = await c.waitFor(binary, (d) => d.length === 1);
    assert.match(msg(blobDiags[0]), /binary/);
    assert.equal(blobDiags[0].severity, 3);
    const hugeDiags = await c.waitFor(huge, (d) => d.length === 1);
    assert.match(msg(hugeDiags[0]), /MB/);
    // Opened in the editor too (20 MB over the wire, NUL bytes in a buffer).
    await c.open(huge);
    await c.open(binary, fs.readFileSync(binary, 'latin1'));
    assert.equal(await c.hover(huge, 0, 1), null);
    await c.waitFor(huge, (d) => d.length === 1 && /size limit|MB/.test(msg(d[0])));
    assert.equal(await c.hover(path.join(dir, 'nowhere.py'), 3, 3), null);
    assert.deepEqual(
      await c.conn.sendRequest('textDocument/codeLens', { textDocument: { uri: 'untitled:1' } }),
      [],
    );
    const users = path.join(dir, 'users.py');
    await c.open(users);
    assert.match(hoverText(await c.hover(users, 17, 2)), /POST `\/users\/`/);
    assert.equal(c.proc.exitCode, null, `server exited: ${c.stderr}`);
  });

  it('follows .py and pyproject.toml changes on disk (watched files)', async () => {
    const dir = copyProject('classic');
    const c = await startClient(dir);
    const users = path.join(dir, 'users.py');
    const orders = path.join(dir, 'orders.py');
    await c.waitFor(users, (d) => d.length === 2);
    await c.waitFor(orders, (d) => d.length === 2);
    const pyproject = path.join(dir, 'pyproject.toml');
    fs.appendFileSync(pyproject, 'ignore = ["AUTH001"]\n');
    fs.writeFileSync(
      orders,
      fs.readFileSync(orders, 'utf8').replace('yaml.load(body)', 'yaml.safe_load(body)'),
    );
    await c.conn.sendNotification('workspace/didChangeWatchedFiles', {
      changes: [
        { uri: uriOf(pyproject), type: 2 },
        { uri: uriOf(orders), type: 2 },
      ],
    });
    await c.waitFor(users, (d) => d.length === 0);
    const left = await c.waitFor(orders, (d) => d.length === 1);
    assert.equal(left[0].code, 'AUTH002');
    // A new file on disk joins the workspace.
    const extra = path.join(dir, 'extra.py');
    fs.writeFileSync(
      extra,
      'from fastapi import APIRouter\n\nrouter = APIRouter()\n\n\n@router.put("/x")\ndef put_x():\n    return {}\n',
    );
    await c.conn.sendNotification('workspace/didChangeWatchedFiles', {
      changes: [{ uri: uriOf(extra), type: 1 }],
    });
    const routes = async () =>
      ((await c.conn.sendRequest(ROUTES_REQUEST, {})) as RoutesResult).routes.map((r) => r.path);
    let paths = await routes();
    for (let i = 0; i < 50 && !paths.includes('/x'); i++) {
      await new Promise((r) => setTimeout(r, 50));
      paths = await routes();
    }
    assert.ok(paths.includes('/x'), paths.join());
  });

  it('analyses a file opened outside every workspace folder on its own', async () => {
    const dir = copyProject('classic');
    const elsewhere = copyProject('noauth');
    const c = await startClient(dir);
    await c.waitFor(path.join(dir, 'users.py'), (d) => d.length === 2);
    const notes = path.join(elsewhere, 'app', 'notes.py');
    await c.open(notes);
    const d = await c.waitFor(notes, (x) => x.length === 2);
    assert.ok(d.every((x) => x.code === 'AUTH001'));
    assert.match(hoverText(await c.hover(notes, 11, 2)), /POST `\/notes\/`/);
    await c.close(notes);
    await c.waitFor(notes, (x) => x.length === 0);
  });

  it('starts the same server as `fastapi-lens lsp --stdio`', async () => {
    const dir = copyProject('classic');
    const c = await startClient(dir, {}, [
      path.join(ROOT, 'bin', 'fastapi-lens.js'),
      'lsp',
      '--stdio',
    ]);
    const users = await c.waitFor(path.join(dir, 'users.py'), (d) => d.length === 2);
    assert.ok(users.every((d) => d.code === 'AUTH001'));
    await c.stop();
    assert.equal(c.proc.exitCode, 0, 'the server exits cleanly after shutdown and exit');
  });

  it('honours settings: diagnostics scope openFiles, rules.ignore, severity, codeLens off', async () => {
    const dir = copyProject('classic');
    const c = await startClient(dir, {
      diagnostics: { scope: 'openFiles' },
      rules: { select: [], ignore: ['DESER001'] },
      severity: { AUTH002: 'info' },
      codeLens: { enable: false },
    });
    const orders = path.join(dir, 'orders.py');
    const users = path.join(dir, 'users.py');
    await c.open(orders);
    const d = await c.waitFor(orders, (x) => x.length === 1);
    assert.equal(d[0].code, 'AUTH002');
    assert.equal(d[0].severity, 3);
    assert.equal(c.diagnostics.get(uriOf(users)), undefined, 'closed files get nothing');
    assert.deepEqual(
      await c.conn.sendRequest('textDocument/codeLens', { textDocument: { uri: uriOf(orders) } }),
      [],
    );
    await c.close(orders);
    await c.waitFor(orders, (x) => x.length === 0);
  });
});
