import { routeSummary, severityFor } from '../../server/src/engine/scan';
import { taintFindings } from '../../server/src/engine/taint/index';
import type { RuleMeta, WorkspaceRule } from '../api';

/**
 * The seven injection-class rules share one taint pass (computed once per analysis); each rule
 * reports the flows that end in its own kind of sink.
 */
export function taintRule(meta: RuleMeta): WorkspaceRule {
  return {
    kind: 'workspace',
    meta,
    reach: { warm: 'taint', cold: 'taint' },
    checkWorkspace(ctx) {
      for (const f of taintFindings(ctx.analysis)) {
        if (f.code !== meta.code) continue;
        ctx.report({
          file: f.file,
          line: f.line,
          column: f.column,
          endLine: f.endLine,
          endColumn: f.endColumn,
          message: f.message,
          severity: f.info
            ? 'info'
            : severityFor(meta.defaultSeverity, true, f.record ? f.record.route.exposure : null),
          route: f.record ? routeSummary(f.record) : null,
          flow: f.flow.length ? f.flow : null,
        });
      }
    },
  };
}
