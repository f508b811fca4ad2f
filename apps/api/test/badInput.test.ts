import { connect } from 'node:net';
import { pino } from 'pino';
import sharp from 'sharp';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  animatedGif,
  bmpFile,
  heicFile,
  hugeExifJpeg,
  pdfFile,
  polyglotGifHtml,
  svgFile,
  textFile,
  validJpeg,
} from '@inferq/images/testing';
import { imageForm, startTestApi, type TestApi } from './apiHarness.ts';

/**
 * Bad input and abuse, beyond the upload table of submitJob.test.ts: every case answers a 4xx
 * with a stable code and the one error shape, carries a request id, stores no row, and leaves the
 * API answering. The API's log lines are captured to check they carry request ids and never the
 * key or the image.
 */

const logLines: string[] = [];
let api: TestApi;

beforeAll(async () => {
  const logger = pino({ level: 'info' }, { write: (line: string) => void logLines.push(line) });
  api = await startTestApi({
    logger,
    tierOverrides: { free: { submitsPerWindow: 10_000, requestsPerWindow: 10_000 } },
  });
});
afterAll(async () => {
  await api?.close();
});

async function ownJobs(): Promise<number> {
  return api.deps.db.job.count({ where: { userId: api.user.userId } });
}

/** A multipart body written by hand, for shapes FormData will not produce. */
function rawMultipart(parts: string[], boundary = 'b0undary'): RequestInit {
  return {
    method: 'POST',
    headers: { 'content-type': `multipart/form-data; boundary=${boundary}` },
    body: `${parts.map((part) => `--${boundary}\r\n${part}\r\n`).join('')}--${boundary}--\r\n`,
  };
}

function formWith(fields: Record<string, string>, file?: { bytes: Buffer; name?: string; type?: string }): RequestInit {
  const form = new FormData();
  for (const [name, value] of Object.entries(fields)) form.append(name, value);
  if (file)
    form.set(
      'image',
      new Blob([new Uint8Array(file.bytes)], { type: file.type ?? 'image/jpeg' }),
      file.name ?? 'image.jpg',
    );
  return { method: 'POST', body: form };
}

/** A PNG carrying a 2 MiB text chunk (zTXt compresses it to a few KiB on the wire). */
async function pngWithHugeText(): Promise<Buffer> {
  const png = await sharp({ create: { width: 64, height: 64, channels: 3, background: '#808080' } })
    .png()
    .toBuffer();
  const { deflateSync } = await import('node:zlib');
  const data = Buffer.concat([Buffer.from('Comment\0\0', 'latin1'), deflateSync(Buffer.alloc(2 * 1024 * 1024, 0x41))]);
  const { crc32 } = await import('node:zlib');
  const type = Buffer.from('zTXt', 'latin1');
  const length = Buffer.alloc(4);
  length.writeUInt32BE(data.length);
  const crc = Buffer.alloc(4);
  crc.writeUInt32BE(crc32(Buffer.concat([type, data])) >>> 0);
  // After IHDR (8-byte signature + 25-byte IHDR chunk).
  return Buffer.concat([png.subarray(0, 33), length, type, data, crc, png.subarray(33)]);
}

type Case = [name: string, path: string, init: () => Promise<RequestInit> | RequestInit, status: number, code: string];

const jpeg = () => validJpeg(64, 64);
const someJobId = '5f1d7c7e-4c1b-4a59-9b47-6a4d1f0b2a11';

const cases: Case[] = [
  // Wrong content types and malformed multipart
  [
    'a text/plain body',
    '/v1/jobs',
    () => ({ method: 'POST', headers: { 'content-type': 'text/plain' }, body: 'image' }),
    400,
    'MISSING_IMAGE',
  ],
  [
    'a urlencoded form',
    '/v1/jobs',
    () => ({
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: 'image=abc&model=nsfw',
    }),
    400,
    'MISSING_IMAGE',
  ],
  [
    'raw JPEG bytes as application/octet-stream',
    '/v1/jobs',
    async () => ({
      method: 'POST',
      headers: { 'content-type': 'application/octet-stream' },
      body: new Uint8Array(await jpeg()),
    }),
    400,
    'MISSING_IMAGE',
  ],
  [
    'multipart/mixed instead of form-data',
    '/v1/jobs',
    () => ({
      method: 'POST',
      headers: { 'content-type': 'multipart/mixed; boundary=x' },
      body: '--x\r\n\r\nhi\r\n--x--',
    }),
    400,
    'MISSING_IMAGE',
  ],
  [
    'multipart/form-data without a boundary',
    '/v1/jobs',
    () => ({ method: 'POST', headers: { 'content-type': 'multipart/form-data' }, body: 'whatever' }),
    400,
    'BAD_REQUEST',
  ],
  [
    'a boundary that never appears in the body',
    '/v1/jobs',
    () => ({
      method: 'POST',
      headers: { 'content-type': 'multipart/form-data; boundary=nothere' },
      body: 'just some bytes\r\n',
    }),
    400,
    'BAD_REQUEST',
  ],
  [
    'the image sent as a text field',
    '/v1/jobs',
    () => rawMultipart(['Content-Disposition: form-data; name="image"\r\n\r\nnot a file']),
    400,
    'MISSING_IMAGE',
  ],
  [
    'a part without Content-Disposition',
    '/v1/jobs',
    () => rawMultipart(['Content-Type: image/jpeg\r\n\r\n\xff\xd8\xff']),
    400,
    'MISSING_IMAGE',
  ],
  [
    'a JSON body of 100 KiB (over the 64 KiB JSON limit)',
    `/v1/jobs/${someJobId}/cancel`,
    () => ({
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ pad: 'x'.repeat(100 * 1024) }),
    }),
    413,
    'PAYLOAD_TOO_LARGE',
  ],
  [
    'malformed JSON',
    `/v1/jobs/${someJobId}/cancel`,
    () => ({ method: 'POST', headers: { 'content-type': 'application/json' }, body: '{"model": ' }),
    400,
    'BAD_REQUEST',
  ],
  // Field limits
  [
    'a 20000-character field value (over the 16 KiB field limit)',
    '/v1/jobs',
    async () => formWith({ model: 'a'.repeat(20_000) }, { bytes: await jpeg() }),
    400,
    'BAD_REQUEST',
  ],
  [
    'a 200-character field name',
    '/v1/jobs',
    async () => formWith({ ['f'.repeat(200)]: 'x' }, { bytes: await jpeg() }),
    400,
    'BAD_REQUEST',
  ],
  [
    'nine form fields',
    '/v1/jobs',
    async () =>
      formWith(Object.fromEntries(Array.from({ length: 9 }, (_, i) => [`field${i}`, 'x'])), { bytes: await jpeg() }),
    400,
    'BAD_REQUEST',
  ],
  // Hostile values in the fields
  [
    'a path-traversal model name',
    '/v1/jobs',
    async () => formWith({ model: '../../../etc/passwd' }, { bytes: await jpeg() }),
    400,
    'UNKNOWN_MODEL',
  ],
  [
    'an SQL-looking model name',
    '/v1/jobs',
    async () => formWith({ model: "nsfw' OR '1'='1" }, { bytes: await jpeg() }),
    400,
    'UNKNOWN_MODEL',
  ],
  [
    'a path-traversal version',
    '/v1/jobs',
    async () => formWith({ version: '../4.4.0' }, { bytes: await jpeg() }),
    400,
    'UNKNOWN_MODEL',
  ],
  [
    'a model name with a NUL byte',
    '/v1/jobs',
    async () => formWith({ model: 'nsfw\u0000' }, { bytes: await jpeg() }),
    400,
    'UNKNOWN_MODEL',
  ],
  [
    'a model name with a right-to-left override',
    '/v1/jobs',
    async () => formWith({ model: 'nsfw\u202egpj' }, { bytes: await jpeg() }),
    400,
    'UNKNOWN_MODEL',
  ],
  [
    'a model name in the query string as an array',
    '/v1/jobs?model=a&model=b',
    async () => formWith({}, { bytes: await jpeg() }),
    400,
    'UNKNOWN_MODEL',
  ],
  [
    'a webhook to the cloud metadata address',
    '/v1/jobs',
    async () => formWith({ webhook: 'http://169.254.169.254/latest/meta-data/' }, { bytes: await jpeg() }),
    400,
    'INVALID_WEBHOOK_URL',
  ],
  [
    'a file: webhook URL',
    '/v1/jobs',
    async () => formWith({ webhook: 'file:///etc/passwd' }, { bytes: await jpeg() }),
    400,
    'INVALID_WEBHOOK_URL',
  ],
  // Hostile files
  [
    'text under a unicode file name',
    '/v1/jobs',
    () => formWith({}, { bytes: textFile(), name: '猫🐱 фото.jpg' }),
    400,
    'INVALID_IMAGE',
  ],
  [
    'text under a path-traversal file name',
    '/v1/jobs',
    () => formWith({}, { bytes: textFile(), name: '../../../../etc/passwd' }),
    400,
    'INVALID_IMAGE',
  ],
  [
    'an SVG (with script) declared image/jpeg',
    '/v1/jobs',
    () => formWith({}, { bytes: svgFile(), name: 'photo.jpg' }),
    415,
    'UNSUPPORTED_FORMAT',
  ],
  [
    'an SVG without an XML prolog',
    '/v1/jobs',
    () => formWith({}, { bytes: svgFile({ prolog: false }), name: 'a.svg', type: 'image/svg+xml' }),
    415,
    'UNSUPPORTED_FORMAT',
  ],
  [
    'a PDF',
    '/v1/jobs',
    () => formWith({}, { bytes: pdfFile(), name: 'scan.pdf', type: 'application/pdf' }),
    415,
    'UNSUPPORTED_FORMAT',
  ],
  ['a HEIC', '/v1/jobs', () => formWith({}, { bytes: heicFile(), name: 'IMG_0001.HEIC' }), 415, 'UNSUPPORTED_FORMAT'],
  ['a BMP', '/v1/jobs', () => formWith({}, { bytes: bmpFile(), name: 'a.bmp' }), 415, 'UNSUPPORTED_FORMAT'],
  [
    'a GIF signature with HTML and script behind it (polyglot)',
    '/v1/jobs',
    () => formWith({}, { bytes: polyglotGifHtml(), name: 'a.gif' }),
    400,
    'INVALID_IMAGE',
  ],
  [
    'a JPEG with 1.5 MiB of EXIF and ICC metadata',
    '/v1/jobs',
    async () => formWith({}, { bytes: await hugeExifJpeg(1.5 * 1024 * 1024) }),
    400,
    'INVALID_IMAGE',
  ],
  [
    'a PNG with a 2 MiB text chunk',
    '/v1/jobs',
    async () => formWith({}, { bytes: await pngWithHugeText(), name: 'a.png' }),
    400,
    'INVALID_IMAGE',
  ],
  [
    'an animated GIF of 3000 frames',
    '/v1/jobs',
    async () => formWith({}, { bytes: await animatedGif(3000, 32, 32), name: 'a.gif' }),
    413,
    'IMAGE_TOO_LARGE',
  ],
  // Job ids
  ['a 10 000-character id', `/v1/jobs/${'a'.repeat(10_000)}`, () => ({}), 404, 'JOB_NOT_FOUND'],
  ['an id with an encoded NUL', '/v1/jobs/%00', () => ({}), 404, 'JOB_NOT_FOUND'],
  ['a double-encoded traversal id', '/v1/jobs/%252e%252e%252fetc%252fpasswd', () => ({}), 404, 'JOB_NOT_FOUND'],
  ['an id that is not valid percent-encoding', '/v1/jobs/%E0%A4%A', () => ({}), 400, 'BAD_REQUEST'],
  ['a unicode id', `/v1/jobs/${encodeURIComponent('ジョブ-１')}`, () => ({}), 404, 'JOB_NOT_FOUND'],
  ['an unknown id in upper case', `/v1/jobs/${someJobId.toUpperCase()}`, () => ({}), 404, 'JOB_NOT_FOUND'],
  ['a cancel of a non-UUID id', '/v1/jobs/1;DROP TABLE jobs/cancel', () => ({ method: 'POST' }), 404, 'JOB_NOT_FOUND'],
  [
    'a cancel of an SQL-looking id',
    `/v1/jobs/${encodeURIComponent("' OR 1=1 --")}/cancel`,
    () => ({ method: 'POST' }),
    404,
    'JOB_NOT_FOUND',
  ],
  // Routes and methods
  ['PUT on the jobs collection', '/v1/jobs', () => ({ method: 'PUT' }), 404, 'NOT_FOUND'],
  ['a path outside the API', '/v1/../../etc/passwd', () => ({}), 404, 'NOT_FOUND'],
];

describe('bad input and abuse', () => {
  it('has at least 30 cases', () => {
    expect(cases.length).toBeGreaterThanOrEqual(30);
  });

  it.each(cases)(
    '%s: a 4xx with its code, nothing stored, the API still up',
    async (_name, path, makeInit, status, code) => {
      const before = await ownJobs();
      const init = await makeInit();
      const response = await fetch(`${api.baseUrl}${path}`, {
        ...init,
        headers: { ...(init.headers as Record<string, string>), ...api.user.headers },
      });
      expect(response.status).toBe(status);
      const body = await response.json();
      expect(body.error.code).toBe(code);
      expect(typeof body.error.message).toBe('string');
      expect(response.headers.get('x-request-id')).toMatch(/^[A-Za-z0-9._-]{1,64}$/);
      expect(await ownJobs()).toBe(before);
      expect((await fetch(`${api.baseUrl}/healthz`)).status).toBe(200);
    },
  );
});

/** One request over a plain socket, for heads that fetch refuses to send. */
async function rawRequest(head: string): Promise<{ status: number; headers: string; body: string }> {
  const url = new URL(api.baseUrl);
  const text = await new Promise<string>((resolve, reject) => {
    const socket = connect(Number(url.port), url.hostname);
    let received = '';
    socket.on('data', (chunk) => (received += chunk.toString('latin1')));
    socket.on('end', () => resolve(received));
    socket.on('error', reject);
    socket.setTimeout(10_000, () => socket.destroy(new Error('no answer')));
    socket.write(head);
  });
  const [headers = '', body = ''] = text.split('\r\n\r\n');
  return { status: Number(headers.split(' ')[1]), headers, body };
}

describe('requests Node refuses before routing', () => {
  it.each([
    [
      'headers over 16 KiB',
      `GET /v1/jobs HTTP/1.1\r\nHost: x\r\nCookie: ${'a'.repeat(20_000)}\r\n\r\n`,
      431,
      'HEADERS_TOO_LARGE',
    ],
    [
      'a header line without a colon',
      'GET /v1/jobs HTTP/1.1\r\nHost: x\r\nthis is not a header\r\n\r\n',
      400,
      'BAD_REQUEST',
    ],
    ['a broken request line', 'GARBAGE\r\n\r\n', 400, 'BAD_REQUEST'],
    ['a header value with a NUL', 'GET /v1/jobs HTTP/1.1\r\nHost: x\r\nX-Evil: a\u0000b\r\n\r\n', 400, 'BAD_REQUEST'],
  ])('%s → %i %s in the platform error shape, with a request id', async (_name, head, status, code) => {
    const response = await rawRequest(head);
    expect(response.status).toBe(status);
    expect(JSON.parse(response.body).error.code).toBe(code);
    expect(response.headers).toMatch(/X-Request-Id: [0-9a-f-]{36}/);
    expect((await fetch(`${api.baseUrl}/healthz`)).status).toBe(200);
  });
});

describe('request ids and logs', () => {
  it('replaces a hostile X-Request-Id and keeps a well-formed one', async () => {
    const hostile = await fetch(`${api.baseUrl}/healthz`, { headers: { 'x-request-id': '<script>alert(1)</script>' } });
    expect(hostile.headers.get('x-request-id')).toMatch(/^[0-9a-f-]{36}$/);
    const tooLong = await fetch(`${api.baseUrl}/healthz`, { headers: { 'x-request-id': 'a'.repeat(65) } });
    expect(tooLong.headers.get('x-request-id')).toMatch(/^[0-9a-f-]{36}$/);
    const given = await fetch(`${api.baseUrl}/healthz`, { headers: { 'x-request-id': 'trace-123.abc_DEF' } });
    expect(given.headers.get('x-request-id')).toBe('trace-123.abc_DEF');
  });

  it('writes JSON log lines that all carry a request id, name the job, and hold neither the key nor image bytes', async () => {
    const accepted = await fetch(`${api.baseUrl}/v1/jobs`, {
      method: 'POST',
      headers: api.user.headers,
      body: imageForm(await jpeg()),
    });
    expect(accepted.status).toBe(202);
    const { id } = await accepted.json();
    const requestId = accepted.headers.get('x-request-id');

    const entries = logLines.map(
      (line) => JSON.parse(line) as { req?: { id?: string }; reqId?: string; jobId?: string; msg: string },
    );
    expect(entries.length).toBeGreaterThan(cases.length);
    const withoutId = entries.filter((entry) => !entry.req?.id && !entry.reqId);
    expect(withoutId).toEqual([]);
    const submitLine = entries.find((entry) => entry.req?.id === requestId && entry.msg === 'request completed');
    expect(submitLine?.jobId).toBe(id);
    const secret = api.user.key.slice('iq_000000000000_'.length); // may itself contain '_'
    expect(logLines.filter((line) => line.includes(secret))).toEqual([]);
    // No image bytes (a JPEG starts /9j/ in base64), and no line blown up by a hostile URL.
    expect(
      logLines.filter((line) => line.includes('/9j/') || line.length > 4096).map((line) => line.slice(0, 200)),
    ).toEqual([]);
  });
});
