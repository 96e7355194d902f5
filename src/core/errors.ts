// The one error type, ShieldError: a stable code from the registry (error-codes.ts), the side that caused it, and
// text a user can act on. The registry's names are re-exported so callers import errors from one place.
import { ERROR_CODES, type ErrorCode, type ErrorSpec, type Kind, type Side } from './error-codes.js';

export { ERROR_CODES, type ErrorCode, type ErrorSpec, type Kind, type Side } from './error-codes.js';

export interface ShieldErrorInit {
  /** What the peer offered, in the words `openssl s_client` would use. */
  offered?: string;
  /** What the policy required. */
  required?: string;
  /** The exact setting that would change the outcome. */
  fix?: string;
  cause?: unknown;
}

/**
 * The one error type. `message` is the full user text: the mail client shows it, so it names what happened, what
 * was offered, what was required and what to change, in that order.
 */
export class ShieldError extends Error {
  readonly code: ErrorCode;
  readonly side: Side;
  readonly kind: Kind;
  readonly temporary: boolean;
  readonly offered?: string;
  readonly required?: string;
  readonly fix?: string;

  constructor(code: ErrorCode, what: string, init: ShieldErrorInit = {}) {
    const parts = [what];
    if (init.offered) parts.push(`offered: ${init.offered}`);
    if (init.required) parts.push(`required: ${init.required}`);
    if (init.fix) parts.push(init.fix);
    super(parts.join('; '), init.cause === undefined ? undefined : { cause: init.cause });
    const spec: ErrorSpec = ERROR_CODES[code];
    this.name = 'ShieldError';
    this.code = code;
    this.side = spec.side;
    this.kind = spec.kind;
    this.temporary = spec.temporary;
    this.offered = init.offered;
    this.required = init.required;
    this.fix = init.fix;
  }

  /** One line, safe for protocol replies: no CR/LF, bounded length, prefixed with the code. */
  toReplyText(max = 900): string {
    const flat = `${this.message} (${this.code})`.replace(/[\r\n]+/g, ' ');
    return flat.length > max ? flat.slice(0, max - 3) + '...' : flat;
  }
}

export function isShieldError(e: unknown): e is ShieldError {
  return e instanceof ShieldError;
}

/** Wraps anything thrown into a ShieldError so callers always have a code and a side. */
export function asShieldError(e: unknown, fallback: ErrorCode = 'MS_ERR_INTERNAL'): ShieldError {
  if (e instanceof ShieldError) return e;
  const msg = e instanceof Error ? e.message : String(e);
  return new ShieldError(fallback, msg, { cause: e });
}
