/**
 * Ruff compiled to WASM with the rules the benchmark compares against (S: flake8-bandit,
 * FAST: FastAPI), as the cold scan (bench/measure.ts) and the keystroke peer
 * (bench/lsp-latency.ts) both run it.
 */
export interface RuffWorkspace {
  check(source: string): unknown[];
}

/**
 * Loads Ruff-WASM (only when called: the other measurements must not carry its memory) and
 * returns how to make a workspace, which the cold scan times and the loading it does not.
 */
export function loadRuff(): () => RuffWorkspace {
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  const ruff = require('@astral-sh/ruff-wasm-nodejs') as {
    Workspace: new (options: unknown, encoding: number) => RuffWorkspace;
    PositionEncoding: { Utf16: number };
  };
  return () => new ruff.Workspace({ lint: { select: ['S', 'FAST'] } }, ruff.PositionEncoding.Utf16);
}
