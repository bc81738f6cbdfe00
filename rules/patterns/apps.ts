import type { FileContext } from '../api';
import { callsNamed, importsAny, qualify, type CallSite } from './util';

/**
 * Shared by the CFG rules: application constructors and uvicorn entry points. Test files are
 * left out: test apps are built with `debug=True` and never deployed.
 */

export function appConstructors(
  ctx: FileContext,
): { site: CallSite; kind: 'FastAPI' | 'Starlette' }[] {
  const out: { site: CallSite; kind: 'FastAPI' | 'Starlette' }[] = [];
  if (ctx.facts.test || !importsAny(ctx, ['fastapi', 'starlette'])) return out;
  for (const site of callsNamed(ctx, ['FastAPI', 'Starlette'])) {
    const q = qualify(ctx, site.callee);
    if (!q) continue;
    if (/^fastapi(\.applications)?\.FastAPI$/.test(q)) out.push({ site, kind: 'FastAPI' });
    else if (/^starlette(\.applications)?\.Starlette$/.test(q))
      out.push({ site, kind: 'Starlette' });
  }
  return out;
}

/** `uvicorn.run(...)`, `uvicorn.Config(...)` (also `from uvicorn import run`). */
export function uvicornCalls(ctx: FileContext): CallSite[] {
  if (ctx.facts.test || !importsAny(ctx, ['uvicorn'])) return [];
  return callsNamed(ctx, ['run', 'Config']).filter((site) => {
    const q = qualify(ctx, site.callee);
    return q !== null && /^uvicorn(\.main|\.config)?\.(run|Config)$/.test(q);
  });
}
