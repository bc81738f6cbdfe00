import { parentPort } from 'node:worker_threads';
import { createPythonParser } from './parser';
import { computeOne, type FactsJob } from './pool';

/** Worker thread entry (dist/worker.js): file paths in, per-file facts out. */

interface Batch {
  id: number;
  items: FactsJob[];
  maxBytes: number;
  keepSource: boolean;
}

const parser = createPythonParser();

parentPort?.on('message', (batch: Batch) => {
  void parser.then((p) => {
    const results = batch.items.map((job) => computeOne(p, job, batch.maxBytes, batch.keepSource));
    parentPort?.postMessage({ id: batch.id, results });
  });
});
