// The logger type the rest of the code depends on. pino implements it; tests can pass a recording fake.
export interface Logger {
  debug(obj: object | string, msg?: string): void;
  info(obj: object | string, msg?: string): void;
  warn(obj: object | string, msg?: string): void;
  error(obj: object | string, msg?: string): void;
  child(bindings: Record<string, unknown>): Logger;
}

/** A logger that drops everything, for tests and library callers that do not care. */
export const silentLogger: Logger = {
  debug() {},
  info() {},
  warn() {},
  error() {},
  child() {
    return silentLogger;
  },
};

/** Keys whose values must never reach a log line. */
export const SECRET_KEYS = ['password', 'pass', 'auth', 'authorization', 'credentials', 'token'] as const;
