import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { Worker } from 'node:worker_threads';
import type { ModuleFacts } from './facts';
import { errText, type FileRole } from './discovery';
import { factsFor, readSource } from './fileFacts';
import { createPythonParser, parserUsable } from './parser';

/**
 * Per-file facts for many files, in parallel: each worker thread has its own parser and turns
 * file paths into facts (read, parse, extract, file rules, taint summaries). Small workspaces,
 * and builds without the worker bundle, run in this thread.
 */

export interface FactsJob {
  abs: string;
  /** Editor contents that win over the disk. */
  overlay?: string;
  /** Test code or documentation examples (discovery.ts fileRole). */
  role?: FileRole;
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
  /**
   * Files to analyse before the others, each handed to `onFirst` as soon as it is done (the
   * documents open in an editor while the workspace loads: their file-local findings are shown
   * from these facts instead of analysing the file a second time in the editor's thread).
   */
  first?: ReadonlySet<string>;
  onFirst?: (result: FactsResult) => void;
}

/** `first` jobs (in order), then the others. */
function firstJobsFirst(jobs: FactsJob[], first: ReadonlySet<string> | undefined) {
  if (!first?.size) return { head: [] as FactsJob[], rest: jobs };
  return {
    head: jobs.filter((j) => first.has(j.abs)),
    rest: jobs.filter((j) => !first.has(j.abs)),
  };
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
    const facts = factsFor(parser, job.abs, read.source, job.role);
    return keepSource ? { abs: job.abs, facts, source: read.source } : { abs: job.abs, facts };
  } catch (err) {
    return { abs: job.abs, error: `could not analyse: ${errText(err)}` };
  }
}

function workerScript(): string | null {
  // Only the bundle ships a worker (dist/worker.js next to dist/cli.js and dist/server.js).
  const candidate = path.join(__dirname, 'worker.js');
  if (fs.existsSync(candidate)) return candidate;
  // Code running from sources (tsx) may name a built worker: bench/measure.ts does, so the
  // benchmark scans in parallel as the CLI does.
  const named = process.env.FASTAPI_LENS_WORKER;
  return named && fs.existsSync(named) ? named : null;
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
  let parser = await createPythonParser();
  const { head, rest } = firstJobsFirst(jobs, options.first);
  const order = [...head, ...rest];
  const byPath = new Map<string, FactsResult>();
  for (let i = 0; i < order.length; i++) {
    if (options.cancelled?.()) break;
    const result = computeOne(parser, order[i], options.maxBytes, options.keepSource ?? false);
    byPath.set(result.abs, result);
    if (i < head.length) options.onFirst?.(result);
    if (!parserUsable(parser)) {
      // The file trapped the parser's WebAssembly instance: the next files get a fresh one.
      try {
        parser = await createPythonParser();
      } catch {
        // None left to make: the remaining files are refused with the reason.
      }
    }
    if (options.progress && ((i + 1) % 50 === 0 || i + 1 === order.length)) {
      options.progress(i + 1, order.length);
      // Let an editor's requests through during long scans.
      await new Promise((resolve) => setImmediate(resolve));
    }
  }
  // In the order of `jobs`.
  return jobs.flatMap((j) => (byPath.has(j.abs) ? [byPath.get(j.abs) as FactsResult] : []));
}

/**
 * A worker's answer: some results of a batch as JSON (ASCII, one byte per character, see
 * worker.ts), the files they are for, and whether the batch is complete.
 */
export interface WorkerReply {
  id: number;
  json: Uint8Array;
  files: string[];
  last: boolean;
  /** The worker's parser is unusable (see parserFault): it sends nothing more. */
  fault?: string;
}

/**
 * A ceiling on each worker's old generation. A file's facts are dropped once sent, so the live
 * data stays small, and the ceiling only makes V8 collect before growing the heap far past it
 * (it saves some 25 MB per worker on 500k-line workspaces at no measurable cost; a smaller
 * young generation, by contrast, costs a fifth more CPU in scavenges). A worker that runs out
 * anyway, on a pathological file, dies and its batch is analysed in this thread.
 */
const WORKER_LIMITS = { maxOldGenerationSizeMb: 112 };

/**
 * Files to facts in worker threads. Memory is the constraint on large workspaces: the facts
 * of every file end up in this thread (as objects, about 1.7 times their JSON size) while
 * each worker holds a parser heap and a JavaScript heap. So results are kept as the JSON bytes
 * the workers transfer (one byte per character, outside the heap) and turned into objects once a
 * worker has retired (a core is free then) or at the end, and each worker is terminated as
 * soon as there is no batch left for it.
 */
function inWorkers(
  script: string,
  jobs: FactsJob[],
  threads: number,
  options: PoolOptions,
): Promise<FactsResult[]> {
  // `first` files each in a batch of its own, so its result comes back at once; then the
  // largest files first: the last batches are then quick, so no worker finishes long after
  // the other (results keep the order of `jobs`).
  const { head, rest } = firstJobsFirst(jobs, options.first);
  const queue = [...head, ...bySizeDescending(rest)];
  return new Promise((resolve, reject) => {
    const results = new Map<string, FactsResult>();
    /** Files whose results arrived (some may still be JSON in `pending`). */
    const received = new Set<string>();
    /** Results not yet parsed (JSON bytes, outside this thread's heap). */
    const pending: Uint8Array[] = [];
    const parseChunk = (chunk: Uint8Array): void => {
      // The bytes are ASCII, so UTF-8 gives the same text, as an ordinary heap string; `latin1`
      // would give a long text as an external string, which V8 frees late (polar's `routes`
      // ended with 67 MB of them uncollected).
      const json = Buffer.from(chunk.buffer, chunk.byteOffset, chunk.length).toString('utf8');
      for (const r of JSON.parse(json) as FactsResult[]) results.set(r.abs, r);
    };
    const parsePending = (): void => {
      for (let chunk = pending.shift(); chunk !== undefined; chunk = pending.shift())
        parseChunk(chunk);
    };
    let pumping = false;
    /** Parse pending results one chunk per turn, letting the other worker's messages in. */
    const pump = (): void => {
      if (pumping || settled) return;
      pumping = true;
      const step = (): void => {
        const chunk = pending.shift();
        if (chunk === undefined || settled) {
          pumping = false;
          return;
        }
        parseChunk(chunk);
        setImmediate(step);
      };
      setImmediate(step);
    };
    /** Jobs of batches whose worker died: analysed in this thread at the end. */
    const orphans: FactsJob[] = [];
    let next = 0;
    let done = 0;
    let batchId = 0;
    let settled = false;
    let started = 0;
    const live = new Set<Worker>();
    const inFlight = new Map<Worker, FactsJob[]>();
    const finish = (): void => {
      if (settled) return;
      settled = true;
      for (const w of live) void w.terminate();
      live.clear();
      try {
        parsePending();
      } catch (err) {
        reject(err);
        return;
      }
      const rest = options.cancelled?.() ? [] : [...orphans, ...queue.slice(next)];
      const complete = (): void =>
        resolve(
          jobs.flatMap((j) => (results.has(j.abs) ? [results.get(j.abs) as FactsResult] : [])),
        );
      const missing = rest.filter((j) => !received.has(j.abs));
      if (missing.length === 0) return complete();
      inThisThread(missing, { ...options, progress: undefined }).then((more) => {
        for (const r of more) results.set(r.abs, r);
        complete();
      }, reject);
    };
    const feed = (w: Worker): boolean => {
      if (next >= queue.length || options.cancelled?.()) return false;
      const items = queue.slice(next, next < head.length ? next + 1 : next + BATCH);
      next += items.length;
      inFlight.set(w, items);
      w.postMessage({
        id: batchId++,
        items,
        maxBytes: options.maxBytes,
        keepSource: options.keepSource ?? false,
      });
      return true;
    };
    /** Stop a worker; a batch it had not finished goes to this thread. */
    const retire = (w: Worker): void => {
      if (!live.delete(w)) return;
      void w.terminate();
      orphans.push(...(inFlight.get(w) ?? []));
      inFlight.delete(w);
      if (live.size === 0 || inFlight.size === 0) finish();
      else pump();
    };
    const count = Math.min(threads, Math.ceil(jobs.length / BATCH));
    for (let i = 0; i < count; i++) {
      let w: Worker;
      try {
        w = new Worker(script, { resourceLimits: WORKER_LIMITS });
      } catch (err) {
        if (live.size > 0) break;
        reject(err);
        return;
      }
      started++;
      live.add(w);
      w.on('message', (msg: WorkerReply) => {
        if (!live.has(w)) return;
        const first = options.first;
        if (first && msg.files.some((f) => first.has(f))) {
          // Wanted now: parsed at once, and handed over.
          try {
            parseChunk(msg.json);
          } catch (err) {
            reject(err);
            return;
          }
          for (const f of msg.files) {
            const r = results.get(f);
            if (r && first.has(f)) options.onFirst?.(r);
          }
        } else pending.push(msg.json);
        for (const f of msg.files) received.add(f);
        done += msg.files.length;
        options.progress?.(done, jobs.length);
        if (live.size < started) pump();
        if (msg.fault) return retire(w);
        if (!msg.last) return;
        inFlight.delete(w);
        // Nothing left for this worker: let its memory (heap, parser) go now rather than at
        // the end, when this thread holds nearly every file's facts.
        if (!feed(w)) retire(w);
      });
      w.on('error', () => retire(w));
      w.on('exit', () => retire(w));
      if (!feed(w)) break;
    }
    if (inFlight.size === 0) finish();
  });
}

function bySizeDescending(jobs: FactsJob[]): FactsJob[] {
  const size = (job: FactsJob): number => {
    if (job.overlay !== undefined) return job.overlay.length;
    try {
      return fs.statSync(job.abs).size;
    } catch {
      return 0;
    }
  };
  return jobs
    .map((job) => ({ job, size: size(job) }))
    .sort((a, b) => b.size - a.size)
    .map((x) => x.job);
}
