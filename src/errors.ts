/**
 * The root of ambit's errors. Every error carries a stable `code` (what went wrong, for
 * programs and docs), the offending `value` (what exactly), and, where we know it, a `hint`
 * (what the operator should do). Messages are lowercase and name the value.
 */
export class AmbitError extends Error {
  readonly code: string;
  readonly value: unknown;
  readonly hint: string | undefined;

  constructor(
    code: string,
    message: string,
    opts: { value?: unknown; hint?: string; cause?: unknown } = {},
  ) {
    super(opts.hint ? `${message} (${opts.hint})` : message, { cause: opts.cause });
    this.name = 'AmbitError';
    this.code = code;
    this.value = opts.value;
    this.hint = opts.hint;
  }
}

/** True when `err` is an AmbitError with the given code. */
export function isCode(err: unknown, code: string): err is AmbitError {
  return err instanceof AmbitError && err.code === code;
}

/** Any caught value as text, for logs. */
export function errorMessage(err: unknown): string {
  if (err instanceof AmbitError) return `${err.code}: ${err.message}`;
  if (err instanceof Error) return err.message;
  return String(err);
}
