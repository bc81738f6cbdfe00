import { parentPort } from 'node:worker_threads';
import { createPythonParser, parserFault } from './parser';
import { computeOne, type FactsJob, type WorkerReply } from './pool';

/**
 * Worker thread entry (dist/worker.js): file paths in, per-file facts out. Results travel as
 * JSON text: a string is copied in one piece, `JSON.parse` on the other side is faster than
 * reading back a structured clone, and the objects it builds take about a quarter less memory.
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

const parser = createPythonParser();

function send(reply: WorkerReply): void {
  parentPort?.postMessage(reply);
}

parentPort?.on('message', (batch: Batch) => {
  void parser.then((p) => {
    let parts: string[] = [];
    let size = 0;
    for (const job of batch.items) {
      const text = JSON.stringify(computeOne(p, job, batch.maxBytes, batch.keepSource));
      parts.push(text);
      size += text.length;
      const fault = parserFault();
      if (fault) {
        // The WebAssembly heap of this thread may be corrupt: hand back what is done and stop;
        // the rest of the batch is analysed elsewhere.
        send({ id: batch.id, json: `[${parts.join(',')}]`, last: false, fault });
        return;
      }
      if (size >= FLUSH) {
        send({ id: batch.id, json: `[${parts.join(',')}]`, last: false });
        parts = [];
        size = 0;
      }
    }
    send({ id: batch.id, json: `[${parts.join(',')}]`, last: true });
  });
});
