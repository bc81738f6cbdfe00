/**
 * Every handler runs through `guard`: an exception becomes a logged error and an empty result,
 * never a crashed server or an error popup for a bug in one feature.
 */

export interface Logger {
  error(message: string): void;
  warn(message: string): void;
  info(message: string): void;
}

export function errorText(err: unknown): string {
  if (err instanceof Error) return err.stack ?? err.message;
  return String(err);
}

export function guard<P extends unknown[], R>(
  log: Logger,
  name: string,
  fallback: () => R,
  fn: (...args: P) => R | Promise<R>,
): (...args: P) => Promise<R> {
  return async (...args: P): Promise<R> => {
    try {
      return await fn(...args);
    } catch (err) {
      log.error(`${name} failed: ${errorText(err)}`);
      return fallback();
    }
  };
}

/** A short pause that lets pending messages (requests, cancellations) through. */
export function yieldToEventLoop(): Promise<void> {
  return new Promise((resolve) => setImmediate(resolve));
}
