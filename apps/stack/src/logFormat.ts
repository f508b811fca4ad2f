import { styleText } from 'node:util';

type Color = Parameters<typeof styleText>[0];

const levelNames: Record<number, string> = {
  10: 'TRACE',
  20: 'DEBUG',
  30: 'INFO',
  40: 'WARN',
  50: 'ERROR',
  60: 'FATAL',
};
const levelColors: Record<number, Color> = { 40: 'yellow', 50: 'red', 60: 'red' };
// Fields every pino line carries; the prefix and the time already say them.
const omitted = new Set(['level', 'time', 'pid', 'hostname', 'service', 'msg', 'workerId']);

export interface LogFormatOptions {
  /**
   * ANSI colors.
   * @defaultValue false
   */
  color?: boolean;
  /**
   * `json` passes every line through as it is; `pretty` turns pino's JSON lines into one short line.
   * @defaultValue 'pretty'
   */
  format?: 'pretty' | 'json';
  /**
   * Width the process names are padded to.
   * @defaultValue 8
   */
  nameWidth?: number;
}

function paint(color: boolean, style: Color, text: string): string {
  return color ? styleText(style, text, { validateStream: false }) : text;
}

function describeValue(value: unknown): string {
  if (typeof value === 'string') return /\s/.test(value) ? JSON.stringify(value) : value;
  if (value && typeof value === 'object' && 'message' in value && typeof value.message === 'string') {
    const code = 'code' in value && typeof value.code === 'string' ? `${value.code}: ` : '';
    return JSON.stringify(`${code}${value.message}`);
  }
  const text = JSON.stringify(value) ?? String(value);
  return text.length > 160 ? `${text.slice(0, 157)}...` : text;
}

/** pino's request log: `GET /v1/jobs 202 12ms` rather than two nested objects. */
function describeRequest(entry: Record<string, unknown>): string | undefined {
  const req = entry.req as { method?: string; url?: string } | undefined;
  const res = entry.res as { statusCode?: number } | undefined;
  if (!req?.method || !req.url) return undefined;
  const time = typeof entry.responseTime === 'number' ? ` ${Math.round(entry.responseTime)}ms` : '';
  return `${req.method} ${req.url}${res?.statusCode ? ` ${res.statusCode}` : ''}${time}`;
}

/**
 * One line of a child process's output as the supervisor prints it: `api      | 10:02:03 INFO
 * api listening port=3000`. Lines that are not pino JSON (Postgres, Redis, a stack trace) keep
 * their text behind the prefix.
 */
export function formatLogLine(name: string, nameColor: Color, line: string, options: LogFormatOptions = {}): string {
  const color = options.color ?? false;
  const prefix = paint(color, nameColor, `${name.padEnd(options.nameWidth ?? 8)} |`);
  if (options.format === 'json' || !line.startsWith('{')) return `${prefix} ${line}`;
  let entry: Record<string, unknown>;
  try {
    entry = JSON.parse(line) as Record<string, unknown>;
  } catch {
    return `${prefix} ${line}`;
  }
  if (typeof entry.level !== 'number' || typeof entry.msg !== 'string') return `${prefix} ${line}`;
  const time = typeof entry.time === 'number' ? new Date(entry.time).toTimeString().slice(0, 8) : '';
  const level = paint(
    color,
    levelColors[entry.level] ?? 'dim',
    (levelNames[entry.level] ?? String(entry.level)).padEnd(5),
  );
  const request = describeRequest(entry);
  const fields = Object.entries(entry)
    .filter(
      ([key, value]) =>
        !omitted.has(key) && value !== undefined && !(request && ['req', 'res', 'responseTime'].includes(key)),
    )
    .map(([key, value]) => `${paint(color, 'dim', `${key}=`)}${describeValue(value)}`);
  const stack =
    entry.level >= 50 && typeof (entry.err as { stack?: unknown } | undefined)?.stack === 'string'
      ? `\n${(entry.err as { stack: string }).stack}`
      : '';
  return `${prefix} ${paint(color, 'dim', time)} ${level} ${[entry.msg, request, ...fields].filter(Boolean).join(' ')}${stack}`;
}
