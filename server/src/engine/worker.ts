import { parentPort } from 'node:worker_threads';
import { createPythonParser, parserFault } from './parser';
import { computeOne, type FactsJob, type WorkerReply } from './pool';

/**
 * Worker thread entry (dist/worker.js): file paths in, per-file facts out. Results travel as
 * JSON text, with characters beyond ASCII escaped: such a string is copied in one piece and
 * kept by the main thread at one byte per character until it needs the objects (see pool.ts).
 * A batch's results are sent in pieces of about FLUSH characters so that a batch of large
 * files never holds much in this thread.
 */

interface Batch {
  id: number;
  items: FactsJob[];
  maxBytes: number;
  keepSource: boolean;
}

const FLUSH = 4_000_000;

const NON_ASCII = /[\u0080-\uffff]/g;

const parser = createPythonParser();

/** JSON with `\uXXXX` escapes for non-ASCII characters (same value, one-byte string). */
function asciiJson(value: unknown): string {
  const json = JSON.stringify(value);
  NON_ASCII.lastIndex = 0;
  if (!NON_ASCII.test(json)) return json;
  return json.replace(NON_ASCII, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`);
}

function send(id: number, parts: string[], files: string[], last: boolean, fault?: string): void {
  const reply: WorkerReply = {
    id,
    json: `[${parts.join(',')}]`,
    files,
    last,
    ...(fault ? { fault } : {}),
  };
  parentPort?.postMessage(reply);
}

parentPort?.on('message', (batch: Batch) => {
  void parser.then((p) => {
    let parts: string[] = [];
    let files: string[] = [];
    let size = 0;
    for (const job of batch.items) {
      const text = asciiJson(computeOne(p, job, batch.maxBytes, batch.keepSource));
      parts.push(text);
      files.push(job.abs);
      size += text.length;
      const fault = parserFault();
      if (fault) {
        // The WebAssembly heap of this thread may be corrupt: hand back what is done and stop;
        // the rest of the batch is analysed elsewhere.
        send(batch.id, parts, files, false, fault);
        return;
      }
      if (size >= FLUSH) {
        send(batch.id, parts, files, false);
        parts = [];
        files = [];
        size = 0;
      }
    }
    send(batch.id, parts, files, true);
  });
});
