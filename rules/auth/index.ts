import type { Rule } from '../api';
import { rule as adminWithoutAuthorization } from './admin-without-authorization';
import { rule as authEndpointWithoutRateLimit } from './auth-endpoint-without-rate-limit';
import { rule as dependencyOverrideOutsideTests } from './dependency-override-outside-tests';
import { rule as hiddenPublicRoute } from './hidden-public-route';
import { rule as inconsistentRouterAuth } from './inconsistent-router-auth';
import { rule as mountBypassesAuth } from './mount-bypasses-auth';
import { rule as nonEnforcingAuth } from './non-enforcing-auth';
import { rule as publicRoute } from './public-route';
import { rule as scopesNeverChecked } from './scopes-never-checked';
import { rule as tokenNeverVerified } from './token-never-verified';
import { rule as websocketUnauthenticated } from './websocket-unauthenticated';

/** Rules of this group, in code order. */
export const AUTH_RULES: Rule[] = [
  publicRoute,
  inconsistentRouterAuth,
  nonEnforcingAuth,
  tokenNeverVerified,
  websocketUnauthenticated,
  mountBypassesAuth,
  dependencyOverrideOutsideTests,
  hiddenPublicRoute,
  adminWithoutAuthorization,
  scopesNeverChecked,
  authEndpointWithoutRateLimit,
];
