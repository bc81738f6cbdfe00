import type { Rule } from '../api';

/** Rules of this group, in code order. */
export const AUTH_RULES: Rule[] = [];
