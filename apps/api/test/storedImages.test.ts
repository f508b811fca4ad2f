import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { createTestUser } from '@inferq/testing';
import sharp from 'sharp';
import {
  privateMetadataImage,
  privateMetadataMarkers,
  validAvif,
  validGif,
  validJpeg,
  validPng,
  validTiff,
  validWebp,
} from '@inferq/images/testing';
import { imageForm, startTestApi, type TestApi } from './apiHarness.ts';

/**
 * Polyglot uploads: an image with a PHP/ZIP/HTML payload after its end is accepted (it is an
 * image), but only the image is stored and served back from the API's origin.
 */

// A ZIP local-file header, a PHP script and HTML: what a polyglot carries after IEND/EOI.
const payload = Buffer.from(
  'PK\x03\x04\x14\x00<?php echo shell_exec($_GET["c"]); ?><html><body><script>alert(document.domain)</script></body></html>',
  'latin1',
);
let api: TestApi;

beforeAll(async () => {
  api = await startTestApi({ tierOverrides: { free: { submitsPerWindow: 10_000, requestsPerWindow: 10_000 } } });
});
afterAll(async () => {
  await api?.close();
});

describe('an image with a payload appended', () => {
  it.each([
    ['png', 'image/png', () => validPng(64, 48)],
    ['jpeg', 'image/jpeg', () => validJpeg(64, 48)],
    ['gif', 'image/gif', () => validGif(64, 48)],
    ['webp', 'image/webp', () => validWebp(64, 48)],
    ['avif', 'image/avif', () => validAvif(64, 48)],
    ['tiff', 'image/tiff', () => validTiff(64, 48)],
  ])('a %s is accepted, stored and served without the payload', async (format, contentType, make) => {
    const image = await make();
    const upload = Buffer.concat([image, payload]);
    const response = await fetch(`${api.baseUrl}/v1/jobs`, {
      method: 'POST',
      headers: api.user.headers,
      body: imageForm(upload, {}, `a.${format}`),
    });
    expect(response.status).toBe(202);
    const job = (await response.json()) as { id: string };

    // Stored: the image alone.
    const row = await api.deps.db.job.findUnique({ where: { id: job.id } });
    const input = await api.deps.db.jobInput.findUnique({ where: { jobId: job.id } });
    expect({ format: row?.inputFormat, bytes: row?.inputBytes }).toEqual({ format, bytes: image.length });
    expect(Buffer.from(input!.data!).equals(image)).toBe(true);

    // Served: the image alone, never sniffed into anything else.
    const served = await fetch(`${api.baseUrl}/v1/jobs/${job.id}/image`, { headers: api.user.headers });
    expect(served.status).toBe(200);
    const bytes = Buffer.from(await served.arrayBuffer());
    expect(bytes.equals(image)).toBe(true);
    expect(bytes.includes(Buffer.from('<?php'))).toBe(false);
    expect({
      type: served.headers.get('content-type'),
      nosniff: served.headers.get('x-content-type-options'),
      csp: served.headers.get('content-security-policy'),
      disposition: served.headers.get('content-disposition'),
    }).toEqual({
      type: contentType,
      nosniff: 'nosniff',
      csp: "default-src 'none'",
      disposition: `inline; filename="${job.id}.${format}"`,
    });
  });

  it('an input stored with a payload before trimming existed is served without it', async () => {
    const image = await validPng(64, 48);
    const id = randomUUID();
    await api.jobs.create({
      id,
      userId: api.user.userId,
      modelName: 'nsfw',
      input: { data: Buffer.concat([image, payload]), format: 'png', width: 64, height: 48, sha256: '0'.repeat(64) },
    });
    const served = await fetch(`${api.baseUrl}/v1/jobs/${id}/image`, { headers: api.user.headers });
    expect(served.status).toBe(200);
    const bytes = Buffer.from(await served.arrayBuffer());
    expect(bytes.equals(image)).toBe(true);
    expect(served.headers.get('content-length')).toBe(String(image.length));
  });

  it.each([
    ['GET', '/image'],
    ['GET', '/deliveries'],
    ['GET', ''],
    ['POST', '/cancel'],
  ])(
    "answers another user's %s /v1/jobs/:id%s with 404 JOB_NOT_FOUND and changes nothing (object-level authorization)",
    async (method, suffix) => {
      const response = await fetch(`${api.baseUrl}/v1/jobs`, {
        method: 'POST',
        headers: api.user.headers,
        body: imageForm(Buffer.concat([await validPng(64, 48), payload])),
      });
      const job = (await response.json()) as { id: string };
      const other = await createTestUser(inject('databaseUrl'));
      const answer = await fetch(`${api.baseUrl}/v1/jobs/${job.id}${suffix}`, { method, headers: other.headers });
      expect({
        status: answer.status,
        code: ((await answer.json()) as { error: { code: string } }).error.code,
      }).toEqual({ status: 404, code: 'JOB_NOT_FOUND' });
      expect((await api.deps.db.job.findUnique({ where: { id: job.id } }))?.status).toBe('queued');
    },
  );
});

describe('private metadata of an upload', () => {
  const submitAndFetch = async (target: TestApi, upload: Buffer): Promise<Buffer> => {
    const response = await fetch(`${target.baseUrl}/v1/jobs`, {
      method: 'POST',
      headers: target.user.headers,
      body: imageForm(upload, {}, 'photo.jpg'),
    });
    expect(response.status).toBe(202);
    const { id } = (await response.json()) as { id: string };
    const served = await fetch(`${target.baseUrl}/v1/jobs/${id}/image`, { headers: target.user.headers });
    expect(served.status).toBe(200);
    return Buffer.from(await served.arrayBuffer());
  };

  it('is not stored or served back: no GPS, Artist or XMP, the orientation kept', async () => {
    const upload = await privateMetadataImage('jpeg');
    const served = await submitAndFetch(api, upload);
    for (const marker of privateMetadataMarkers) expect(served.includes(marker)).toBe(false);
    const metadata = await sharp(served).metadata();
    expect({
      orientation: metadata.orientation,
      xmp: metadata.xmp,
      exifBytes: (metadata.exif?.length ?? 0) < 64,
    }).toEqual({ orientation: 6, xmp: undefined, exifBytes: true });
  });

  it('is kept as sent where the setting keeps it (KEEP_IMAGE_METADATA)', async () => {
    const keeping = await startTestApi({ keepImageMetadata: true });
    try {
      const upload = await privateMetadataImage('jpeg');
      expect((await submitAndFetch(keeping, upload)).equals(upload)).toBe(true);
    } finally {
      await keeping.close();
    }
  });
});
