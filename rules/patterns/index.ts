import type { Rule } from '../api';
import { rule as bindAllInterfaces } from './bind-all-interfaces';
import { rule as debugEnabled } from './debug-enabled';
import { rule as docsExposed } from './docs-exposed';
import { rule as exceptionDetailLeak } from './exception-detail-leak';
import { rule as hardcodedSecret } from './hardcoded-secret';
import { rule as insecureCookie } from './insecure-cookie';
import { rule as jwtAlgorithmNotPinned } from './jwt-algorithm-not-pinned';
import { rule as nonConstantTimeCompare } from './non-constant-time-compare';
import { rule as outboundCallWithoutTimeout } from './outbound-call-without-timeout';
import { rule as tlsVerificationDisabled } from './tls-verification-disabled';
import { rule as unsafeDeserialization } from './unsafe-deserialization';
import { rule as unverifiedJwtDecode } from './unverified-jwt-decode';
import { rule as weakPasswordHash } from './weak-password-hash';
import { rule as wildcardOrigin } from './wildcard-origin';
import { rule as wildcardOriginWithCredentials } from './wildcard-origin-with-credentials';

/** Rules of this group, in code order. */
export const PATTERNS_RULES: Rule[] = [
  debugEnabled,
  bindAllInterfaces,
  docsExposed,
  insecureCookie,
  wildcardOriginWithCredentials,
  wildcardOrigin,
  nonConstantTimeCompare,
  weakPasswordHash,
  unsafeDeserialization,
  unverifiedJwtDecode,
  jwtAlgorithmNotPinned,
  exceptionDetailLeak,
  hardcodedSecret,
  outboundCallWithoutTimeout,
  tlsVerificationDisabled,
];
