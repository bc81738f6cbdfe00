import * as assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { createRequire } from 'node:module';
import * as workerThreads from 'node:worker_threads';
import {
  computeAllFacts,
  computeOne,
  type FactsJob,
  type WorkerReply,
} from '../server/src/engine/pool';
import { createPythonParser } from '../server/src/engine/parser';

/**
 * The worker pool (server/src/engine/pool.ts, worker.ts): facts computed in worker threads are
 * the facts computed in this thread, non-ASCII text included, and they arrive as transferred
 * bytes (one byte per character, kept outside this thread's heap), not as strings, which a
 * source with any character beyond Latin-1 would make two bytes per character.
 */

const WORKER = path.join(__dirname, '..', 'dist', 'worker.js');
const NOT_BUILT = 'dist/worker.js is not built (npm run build)';
const MAX_BYTES = 5 * 1024 * 1024;

/** Facts as they cross threads: JSON (keys whose value is `undefined` are left out). */
function asJson(value: unknown): unknown {
  return JSON.parse(JSON.stringify(value)) as unknown;
}

/** A route module whose strings, comments and names are not all ASCII. */
function moduleSource(i: number): string {
  return [
    '# Ünïcödé comment: naïve café, 日本語, 🔒',
    'from fastapi import APIRouter, Depends',
    '',
    'router = APIRouter(prefix="/été")',
    '',
    `def dépendance_${i}(token: str = "clé-🔑") -> str:`,
    '    if token != "sécurité":',
    '        raise ValueError("refusé\u2028ligne")',
    '    return token',
    '',
    `@router.get("/élément/${i}/ß", summary="résumé ✓")`,
    `async def lire_${i}(valeur: str = Depends(dépendance_${i})) -> dict:`,
    '    return {"message": f"bonjour {valeur} 👋"}',
    '',
  ].join('\n');
}

describe('worker pool', { skip: fs.existsSync(WORKER) ? false : NOT_BUILT }, () => {
  let dir: string;
  let jobs: FactsJob[];

  before(() => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'lens-pool-'));
    // More files than MIN_FILES_FOR_WORKERS (48), so computeAllFacts starts workers.
    jobs = [];
    for (let i = 0; i < 60; i++) {
      const abs = path.join(dir, `module_${i}.py`);
      fs.writeFileSync(abs, i % 3 === 0 ? `x = ${i}\n` : moduleSource(i));
      jobs.push({ abs, role: { test: false, docs: false } });
    }
  });

  after(() => fs.rmSync(dir, { recursive: true, force: true }));

  it('a worker replies with transferred ASCII bytes that decode to the facts of this thread', async () => {
    const parser = await createPythonParser();
    const expected = asJson(jobs.slice(0, 4).map((j) => computeOne(parser, j, MAX_BYTES, true)));
    const w = new workerThreads.Worker(WORKER);
    try {
      const replies = await new Promise<WorkerReply[]>((resolve, reject) => {
        const got: WorkerReply[] = [];
        w.on('message', (msg: WorkerReply) => {
          got.push(msg);
          if (msg.last) resolve(got);
        });
        w.on('error', reject);
        w.postMessage({ id: 7, items: jobs.slice(0, 4), maxBytes: MAX_BYTES, keepSource: true });
      });
      const results: unknown[] = [];
      for (const reply of replies) {
        assert.equal(reply.id, 7);
        assert.ok(reply.json instanceof Uint8Array, 'results arrive as bytes, not as a string');
        assert.ok(
          reply.json.every((b) => b < 0x80),
          'non-ASCII characters are escaped, one byte per character',
        );
        const text = Buffer.from(reply.json).toString('latin1');
        results.push(...(JSON.parse(text) as unknown[]));
      }
      assert.deepEqual(results, expected);
      // The escapes decode back to the source's characters.
      const second = results[1] as { source: string };
      assert.ok(second.source.includes('🔒') && second.source.includes('\u2028'));
    } finally {
      await w.terminate();
    }
  });

  it('computeAllFacts in worker threads gives the facts of one thread, in job order', async () => {
    const previous = process.env.FASTAPI_LENS_WORKER;
    process.env.FASTAPI_LENS_WORKER = WORKER;
    // Count the workers started, so that a silent fall-back to this thread cannot pass (the
    // module object itself: pool.ts reads its `Worker` when it starts one).
    const threadsModule = createRequire(__filename)('node:worker_threads') as typeof workerThreads;
    const RealWorker = threadsModule.Worker;
    let started = 0;
    threadsModule.Worker = class extends RealWorker {
      constructor(...args: ConstructorParameters<typeof RealWorker>) {
        super(...args);
        started++;
      }
    };
    try {
      const inWorkers = await computeAllFacts(jobs, { maxBytes: MAX_BYTES, threads: 2 });
      assert.ok(started >= 1, 'worker threads were started');
      const inThread = await computeAllFacts(jobs, { maxBytes: MAX_BYTES, threads: 1 });
      assert.equal(inWorkers.length, jobs.length);
      assert.deepEqual(
        inWorkers.map((r) => r.abs),
        jobs.map((j) => j.abs),
      );
      assert.deepEqual(inWorkers, asJson(inThread));
    } finally {
      threadsModule.Worker = RealWorker;
      if (previous === undefined) delete process.env.FASTAPI_LENS_WORKER;
      else process.env.FASTAPI_LENS_WORKER = previous;
    }
  });

  it('`first` files are handed over as soon as they are done, with the facts of the whole run', async () => {
    const previous = process.env.FASTAPI_LENS_WORKER;
    process.env.FASTAPI_LENS_WORKER = WORKER;
    // Two open documents among the smallest files (the queue is otherwise largest first).
    const first = new Set([jobs[57].abs, jobs[4].abs]);
    try {
      for (const threads of [2, 1]) {
        const handed: { abs: string; handedBefore: number }[] = [];
        let progressCalls = 0;
        const results = await computeAllFacts(jobs, {
          maxBytes: MAX_BYTES,
          threads,
          keepSource: true,
          first,
          progress: () => progressCalls++,
          onFirst: (r) => handed.push({ abs: r.abs, handedBefore: progressCalls }),
        });
        assert.deepEqual(
          handed.map((h) => h.abs).sort(),
          [...first].sort(),
          `threads ${threads}: each first file handed over once`,
        );
        // In workers, before most results have come back; in this thread, before the first
        // progress report (every 50 files).
        for (const h of handed)
          assert.ok(h.handedBefore <= 2, `threads ${threads}: ${h.abs} after ${h.handedBefore}`);
        assert.deepEqual(
          results.map((r) => r.abs),
          jobs.map((j) => j.abs),
          `threads ${threads}: results in job order`,
        );
        const parser = await createPythonParser();
        for (const abs of first) {
          const got = results.find((r) => r.abs === abs);
          const job = jobs.find((j) => j.abs === abs) as FactsJob;
          assert.deepEqual(asJson(got), asJson(computeOne(parser, job, MAX_BYTES, true)));
        }
      }
    } finally {
      if (previous === undefined) delete process.env.FASTAPI_LENS_WORKER;
      else process.env.FASTAPI_LENS_WORKER = previous;
    }
  });
});
