import type { Rule } from '../api';

/** Rules of this group, in code order. */
export const PATTERNS_RULES: Rule[] = [];
