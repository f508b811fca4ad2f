import { describe, expect, it } from 'vitest';
import { formatLogLine } from '../src/logFormat.ts';

const time = Date.UTC(2026, 0, 2, 3, 4, 5);
const clock = new Date(time).toTimeString().slice(0, 8);

describe('formatLogLine', () => {
  it.each<[string, string, string]>([
    [
      'a pino line: time, level, message, its own fields',
      JSON.stringify({ level: 30, time, pid: 1, hostname: 'h', service: 'api', msg: 'api listening', port: 3000 }),
      `api      | ${clock} INFO  api listening port=3000`,
    ],
    [
      'a warning with an error',
      JSON.stringify({
        level: 40,
        time,
        msg: 'redis connection error',
        err: { message: 'connect ECONNREFUSED', code: 'ECONNREFUSED' },
      }),
      `api      | ${clock} WARN  redis connection error err="ECONNREFUSED: connect ECONNREFUSED"`,
    ],
    [
      'a request',
      JSON.stringify({
        level: 30,
        time,
        msg: 'request completed',
        req: { method: 'POST', url: '/v1/jobs' },
        res: { statusCode: 202 },
        responseTime: 12.4,
      }),
      `api      | ${clock} INFO  request completed POST /v1/jobs 202 12ms`,
    ],
    ['text that is not JSON', 'LOG:  database system is ready', 'api      | LOG:  database system is ready'],
    ['JSON that is not a pino line', '{"hello":1}', 'api      | {"hello":1}'],
  ])('%s', (_name, line, expected) => {
    expect(formatLogLine('api', 'green', line)).toBe(expected);
  });

  it('passes lines through unchanged in json format, and colors only when asked', () => {
    const line = JSON.stringify({ level: 30, time, msg: 'x' });
    expect(formatLogLine('worker', 'magenta', line, { format: 'json' })).toBe(`worker   | ${line}`);
    expect(formatLogLine('worker', 'magenta', line, { color: true })).toContain('\u001b[');
    expect(formatLogLine('worker', 'magenta', line)).not.toContain('\u001b[');
  });

  it('prints the stack of an error logged at error level', () => {
    const line = JSON.stringify({
      level: 50,
      time,
      msg: 'boom',
      err: { message: 'bad', stack: 'Error: bad\n    at f (x.ts:1:1)' },
    });
    expect(formatLogLine('api', 'green', line).split('\n')).toEqual([
      `api      | ${clock} ERROR boom err="bad"`,
      'Error: bad',
      '    at f (x.ts:1:1)',
    ]);
  });
});
