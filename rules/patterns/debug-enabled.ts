import type { FileRule } from '../api';
import { appConstructors, uvicornCalls } from './apps';
import { assignmentOf, assignments, inMainGuard, isTrue, keywordNode, unparen } from './util';

/** CFG001: debug mode or auto-reload switched on in code. */
export const rule: FileRule = {
  kind: 'file',
  meta: {
    code: 'CFG001',
    slug: 'debug-enabled',
    title: 'Debug mode enabled',
    defaultSeverity: 'warning',
    cwe: [489, 215],
    owasp: ['API8:2023'],
    fix: 'none',
    exposureSensitive: false,
    docs: {
      whatItDoes:
        'Reports `FastAPI(debug=True)` / `Starlette(debug=True)`, `app.debug = True` on an application created in the same file, and `uvicorn.run(...)` / `uvicorn.Config(...)` with `reload=True` or `debug=True`. Inside an `if __name__ == "__main__":` block (a developer entry point that production servers such as `uvicorn app.main:app` or gunicorn do not run) the uvicorn flags are reported at info instead of warning; `FastAPI(debug=True)` is always a warning because it applies however the app is served. Values read from settings (`debug=settings.DEBUG`) are not reported, nor are test files (`tests/`, `test_*.py`, `conftest.py`), whose apps are never deployed.',
      whyIsThisBad:
        'In debug mode Starlette answers unhandled exceptions with an HTML page containing the traceback, source lines and local variables: database URLs, keys, user data. `reload=True` runs a file watcher that restarts the server on any change under the working directory and costs CPU; it is a development tool that should not decide how production runs.',
      example: `app = FastAPI(debug=True)

if __name__ == "__main__":
    uvicorn.run("app.main:app", reload=True)`,
      useInstead: `app = FastAPI(debug=settings.DEBUG)

if __name__ == "__main__":
    uvicorn.run("app.main:app", reload=settings.DEBUG)`,
      fixSafety: 'No automatic fix: the setting usually has to come from configuration.',
    },
  },
  checkFile(ctx) {
    const appNames = new Set<string>();
    for (const { site, kind } of appConstructors(ctx)) {
      const parent = assignmentOf(ctx, site.node);
      if (parent) {
        const left = parent.childForFieldName('left');
        if (left) appNames.add(left.text);
      }
      const kw = keywordNode(site.node, 'debug');
      if (kw && isTrue(kw.childForFieldName('value')))
        ctx.report({
          node: kw,
          message: `\`${kind}(debug=True)\`: unhandled errors return tracebacks with source and local variables to the client.`,
        });
    }
    if (appNames.size) {
      for (const a of assignments(ctx)) {
        const left = a.childForFieldName('left');
        if (left?.type !== 'attribute' || left.childForFieldName('attribute')?.text !== 'debug')
          continue;
        if (!appNames.has(left.childForFieldName('object')?.text ?? '')) continue;
        if (!isTrue(unparen(a.childForFieldName('right')))) continue;
        ctx.report({
          node: a,
          message: `\`${left.text} = True\` turns on debug mode: unhandled errors return tracebacks with source and local variables to the client.`,
        });
      }
    }
    for (const site of uvicornCalls(ctx)) {
      const dev = inMainGuard(ctx, site.node);
      for (const flag of ['debug', 'reload']) {
        const kw = keywordNode(site.node, flag);
        if (!kw || !isTrue(kw.childForFieldName('value'))) continue;
        const what =
          flag === 'debug'
            ? 'debug mode (tracebacks in responses)'
            : 'auto-reload (a file watcher restarting the server)';
        ctx.report({
          node: kw,
          severity: dev ? 'info' : undefined,
          message: dev
            ? `\`${site.callee}(${flag}=True)\` in the \`__main__\` entry point enables ${what}: fine for local runs, wrong if production starts the app this way.`
            : `\`${site.callee}(${flag}=True)\` enables ${what} outside a development entry point.`,
        });
      }
    }
  },
};
