import { parentPort } from 'node:worker_threads';
import { createPythonParser, parserFault } from './parser';
import { computeOne, type FactsJob, type WorkerReply } from './pool';

/**
 * Worker thread entry (dist/worker.js): file paths in, per-file facts out. Results travel as
 * JSON text with characters beyond ASCII escaped, encoded one byte per character into a buffer
 * that is transferred, not copied: the main thread keeps it outside its heap until it needs
 * the objects (see pool.ts). A string would not do: text sliced from a source file with any
 * character beyond Latin-1 (a dash, a curly quote, an emoji) is stored two bytes per character,
 * JSON built from it too, and a string posted to another thread arrives as it was stored (polar:
 * 66 MB of JSON held as 130 MB).
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
  const text = `[${parts.join(',')}]`;
  // An ArrayBuffer of its own: a pooled Buffer's could not be transferred.
  const buffer = new ArrayBuffer(text.length);
  Buffer.from(buffer).write(text, 'latin1');
  const reply: WorkerReply = {
    id,
    json: new Uint8Array(buffer),
    files,
    last,
    ...(fault ? { fault } : {}),
  };
  parentPort?.postMessage(reply, [buffer]);
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
