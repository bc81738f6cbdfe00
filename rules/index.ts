import type { Rule } from './api';
import { AUTH_RULES } from './auth/index';
import { DATA_RULES } from './data/index';
import { PATTERNS_RULES } from './patterns/index';
import { TAINT_RULES } from './taint/index';

/** Every rule, registered once. The meta-test checks codes are unique and documented. */
export const RULES: Rule[] = [...AUTH_RULES, ...TAINT_RULES, ...PATTERNS_RULES, ...DATA_RULES];
