import type { Rule } from '../api';
import { rule as codeInjection } from './code-injection';
import { rule as commandInjection } from './command-injection';
import { rule as openRedirect } from './open-redirect';
import { rule as pathTraversal } from './path-traversal';
import { rule as requestControlledUrl } from './request-controlled-url';
import { rule as sqlInjection } from './sql-injection';
import { rule as unescapedHtmlResponse } from './unescaped-html-response';

/** Rules of this group, in code order. */
export const TAINT_RULES: Rule[] = [
  sqlInjection,
  commandInjection,
  codeInjection,
  pathTraversal,
  requestControlledUrl,
  openRedirect,
  unescapedHtmlResponse,
];
