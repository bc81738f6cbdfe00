import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { Worker } from 'node:worker_threads';
import type { ModuleFacts } from './facts';
import { errText } from './discovery';
import { factsFor, readSource } from './fileFacts';
import { createPythonParser } from './parser';

/**
 * Per-file facts for many files, in parallel: each worker thread has its own parser and turns
 * file paths into facts (read, parse, extract, file rules, taint summaries). Small workspaces,
 * and builds without the worker bundle, run in this thread.
 */

export interface FactsJob {
  abs: string;
  /** Editor contents that win over the disk. */
  overlay?: string;
}

export type FactsResult =
  { abs: string; facts: ModuleFacts; source?: string } | { abs: string; error: string };

export interface PoolOptions {
  maxBytes: number;
  /** Worker threads; defaults to the number of cores. 1 means in this thread. */
  threads?: number;
  /** Keep each file's source text in the result (editors need it for fixes and frames). */
  keepSource?: boolean;
  progress?: (done: number, total: number) => void;
  cancelled?: () => boolean;
}

/** Below this many files, starting workers costs more than it saves. */
const MIN_FILES_FOR_WORKERS = 48;
const BATCH = 24;

export function computeOne(
  parser: Awaited<ReturnType<typeof createPythonParser>>,
  job: FactsJob,
  maxBytes: number,
  keepSource: boolean,
): FactsResult {
  const read = job.overlay !== undefined ? { source: job.overlay } : readSource(job.abs, maxBytes);
  if ('error' in read) return { abs: job.abs, error: read.error };
  try {
    const facts = factsFor(parser, job.abs, read.source);
    return keepSource ? { abs: job.abs, facts, source: read.source } : { abs: job.abs, facts };
  } catch (err) {
    return { abs: job.abs, error: `could not analyse: ${errText(err)}` };
  }
}

function workerScript(): string | null {
  // Only the bundle ships a worker (dist/worker.js next to dist/cli.js and dist/server.js).
  const candidate = path.join(__dirname, 'worker.js');
  return fs.existsSync(candidate) ? candidate : null;
}

export async function computeAllFacts(
  jobs: FactsJob[],
  options: PoolOptions,
): Promise<FactsResult[]> {
  const cores =
    typeof os.availableParallelism === 'function' ? os.availableParallelism() : os.cpus().length;
  const threads = Math.max(1, Math.min(options.threads ?? cores, 8));
  const script = workerScript();
  if (threads > 1 && script && jobs.length >= MIN_FILES_FOR_WORKERS) {
    try {
      return await inWorkers(script, jobs, threads, options);
    } catch {
      // A worker that cannot start (or dies) must not lose the scan: finish in this thread.
    }
  }
  return inThisThread(jobs, options);
}

async function inThisThread(jobs: FactsJob[], options: PoolOptions): Promise<FactsResult[]> {
  const parser = await createPythonParser();
  const out: FactsResult[] = [];
  for (let i = 0; i < jobs.length; i++) {
    if (options.cancelled?.()) break;
    out.push(computeOne(parser, jobs[i], options.maxBytes, options.keepSource ?? false));
    if (options.progress && ((i + 1) % 50 === 0 || i + 1 === jobs.length)) {
      options.progress(i + 1, jobs.length);
      // Let an editor's requests through during long scans.
      await new Promise((resolve) => setImmediate(resolve));
    }
  }
  return out;
}

interface WorkerReply {
  id: number;
  results: FactsResult[];
}

function inWorkers(
  script: string,
  jobs: FactsJob[],
  threads: number,
  options: PoolOptions,
): Promise<FactsResult[]> {
  return new Promise((resolve, reject) => {
    const results = new Map<string, FactsResult>();
    let next = 0;
    let done = 0;
    let batchId = 0;
    let settled = false;
    const workers: Worker[] = [];
    const finish = (err?: unknown): void => {
      if (settled) return;
      settled = true;
      for (const w of workers) void w.terminate();
      if (err) reject(err);
      else
        resolve(
          jobs.flatMap((j) => (results.has(j.abs) ? [results.get(j.abs) as FactsResult] : [])),
        );
    };
    const feed = (w: Worker): boolean => {
      if (next >= jobs.length || options.cancelled?.()) return false;
      const items = jobs.slice(next, next + BATCH);
      next += items.length;
      w.postMessage({
        id: batchId++,
        items,
        maxBytes: options.maxBytes,
        keepSource: options.keepSource ?? false,
      });
      return true;
    };
    let busy = 0;
    const count = Math.min(threads, Math.ceil(jobs.length / BATCH));
    for (let i = 0; i < count; i++) {
      const w = new Worker(script);
      workers.push(w);
      w.on('message', (msg: WorkerReply) => {
        for (const r of msg.results) results.set(r.abs, r);
        done += msg.results.length;
        options.progress?.(done, jobs.length);
        busy--;
        if (feed(w)) busy++;
        else if (busy === 0) finish();
      });
      w.on('error', (err) => finish(err));
      w.on('exit', (code) => {
        if (code !== 0 && !settled) finish(new Error(`worker exited with ${code}`));
      });
      if (feed(w)) busy++;
    }
    if (busy === 0) finish();
  });
}
