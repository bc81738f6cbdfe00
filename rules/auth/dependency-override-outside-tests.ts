import type { WorkspaceRule } from '../api';

/** AUTH007: production code replacing dependencies. */
export const rule: WorkspaceRule = {
  kind: 'workspace',
  reach: { warm: 'statement', cold: 'file' },
  meta: {
    code: 'AUTH007',
    slug: 'dependency-override-outside-tests',
    title: '`dependency_overrides` set outside tests',
    defaultSeverity: 'error',
    cwe: [489, 287],
    owasp: ['API2:2023', 'API8:2023'],
    fix: 'none',
    exposureSensitive: false,
    docs: {
      whatItDoes:
        'Reports assignments to `app.dependency_overrides[...]` (and `dependency_overrides.update(...)`) in files that are not tests (`tests/`, `test_*.py`, `*_test.py`, `conftest.py`).',
      whyIsThisBad:
        '`dependency_overrides` replaces a dependency for every request. It exists for tests; in application code it usually means a debug shortcut such as `app.dependency_overrides[get_current_user] = lambda: admin` that ships to production and switches authentication off.',
      example: `if settings.DEBUG:
    app.dependency_overrides[get_current_user] = lambda: User(id=1, is_superuser=True)`,
      useInstead: `# tests/conftest.py
app.dependency_overrides[get_current_user] = lambda: User(id=1, is_superuser=True)`,
      fixSafety: 'No automatic fix.',
    },
  },
  checkWorkspace(ctx) {
    for (const file of ctx.analysis.files) {
      if (file.facts.test) continue;
      for (const s of file.facts.subscriptAssigns) {
        if (
          s.target.k !== 'sub' ||
          s.target.obj.k !== 'attr' ||
          s.target.obj.attr !== 'dependency_overrides'
        )
          continue;
        ctx.report({
          file: file.rel,
          line: s.line,
          column: s.target.col,
          message:
            'Dependency override outside tests: it replaces the dependency for every request in production.',
        });
      }
      for (const c of file.facts.calls) {
        const fn = c.call.fn;
        if (
          fn.k === 'attr' &&
          fn.attr === 'update' &&
          fn.obj.k === 'attr' &&
          fn.obj.attr === 'dependency_overrides'
        )
          ctx.report({
            file: file.rel,
            line: c.line,
            column: c.col,
            message:
              'Dependency overrides set outside tests: they replace dependencies for every request in production.',
          });
      }
    }
  },
};
