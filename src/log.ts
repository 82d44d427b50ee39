/**
 * Structured, line-oriented logs on stderr: `<time> <level> <component> <message> k=v ...`.
 * One logger per component; AMBIT_LOG=debug turns on debug lines. Conventions: an error is
 * logged under the key `error` (its code and message, `errorMessage(err)`), never `err`; every
 * line about one proxied connection carries its `conn` id (`withFields(log, { conn })`).
 */
export type Level = 'debug' | 'info' | 'warn' | 'error';

const order: Record<Level, number> = { debug: 0, info: 1, warn: 2, error: 3 };
const threshold = order[(process.env.AMBIT_LOG as Level | undefined) ?? 'info'] ?? 1;

/** A line's fields; `err` is refused at compile time so that errors have one key, `error`. */
export type Fields = Record<string, unknown> & { err?: never };

export interface Logger {
  debug(msg: string, fields?: Fields): void;
  info(msg: string, fields?: Fields): void;
  warn(msg: string, fields?: Fields): void;
  error(msg: string, fields?: Fields): void;
  child(component: string): Logger;
}

function fmt(v: unknown): string {
  if (typeof v === 'string') return /[\s"=]/.test(v) || v === '' ? JSON.stringify(v) : v;
  if (v instanceof Error) return JSON.stringify(v.message);
  return JSON.stringify(v);
}

export function createLogger(
  component: string,
  sink: (line: string) => void = defaultSink,
): Logger {
  const write = (level: Level, msg: string, fields?: Fields) => {
    if (order[level] < threshold) return;
    let line = `${new Date().toISOString()} ${level} ${component} ${msg}`;
    if (fields)
      for (const [k, v] of Object.entries(fields)) if (v !== undefined) line += ` ${k}=${fmt(v)}`;
    sink(line);
  };
  return {
    debug: (m, f) => write('debug', m, f),
    info: (m, f) => write('info', m, f),
    warn: (m, f) => write('warn', m, f),
    error: (m, f) => write('error', m, f),
    child: (c) => createLogger(`${component}/${c}`, sink),
  };
}

/** A logger whose every line also carries `fields` (first), e.g. one connection's `conn` id. */
export function withFields(log: Logger, fields: Fields): Logger {
  const merged = (f?: Fields): Fields => ({ ...fields, ...f });
  return {
    debug: (m, f) => log.debug(m, merged(f)),
    info: (m, f) => log.info(m, merged(f)),
    warn: (m, f) => log.warn(m, merged(f)),
    error: (m, f) => log.error(m, merged(f)),
    child: (c) => withFields(log.child(c), fields),
  };
}

let lastConnection = 0;

/** A process-unique id for one proxied connection, to link all of its log lines. */
export function connectionId(): string {
  lastConnection = (lastConnection + 1) % Number.MAX_SAFE_INTEGER;
  return lastConnection.toString(36);
}

function defaultSink(line: string): void {
  process.stderr.write(line + '\n');
}
