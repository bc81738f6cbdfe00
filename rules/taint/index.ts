import type { Rule } from '../api';

/** Rules of this group, in code order. */
export const TAINT_RULES: Rule[] = [];
