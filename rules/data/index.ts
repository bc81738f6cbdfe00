import type { Rule } from '../api';
import { rule as massAssignment } from './mass-assignment';
import { rule as sensitiveFieldExposed } from './sensitive-field-exposed';

/** Rules of this group, in code order. */
export const DATA_RULES: Rule[] = [sensitiveFieldExposed, massAssignment];
