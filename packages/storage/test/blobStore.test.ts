import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { startS3Server, type S3Server } from '@inferq/testing';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  BlobTooLargeError,
  createBlobStore,
  FileBlobStore,
  inputBlobKey,
  S3BlobStore,
  uploadBlobKey,
  type BlobStore,
} from '../src/index.ts';

let folder: string;
let s3: S3Server;

beforeAll(async () => {
  folder = await mkdtemp(path.join(tmpdir(), 'inferq-blobs-'));
  s3 = await startS3Server();
});

afterAll(async () => {
  await rm(folder, { recursive: true, force: true });
  await s3?.stop();
});

const drivers: Array<[string, () => BlobStore]> = [
  ['file', () => createBlobStore({ url: `file://${folder}/` })],
  [
    's3',
    () =>
      createBlobStore({
        url: `s3://${s3.bucket}/some/prefix`,
        endpoint: s3.endpoint,
        accessKeyId: s3.accessKeyId,
        secretAccessKey: s3.secretAccessKey,
        forcePathStyle: true,
      }),
  ],
];

describe.each(drivers)('the %s driver', (kind, make) => {
  it('writes, reads, lists and deletes blobs', async () => {
    const store = make();
    expect(store.kind).toBe(kind);
    const bytes = Buffer.from(Array.from({ length: 70_000 }, (_, i) => i % 251));
    const keys = [
      inputBlobKey('0b8f6b6e-8c8e-4d4e-9a53-5a0b0c9b1a01'),
      inputBlobKey('0b8f6b6e-8c8e-4d4e-9a53-5a0b0c9b1a02'),
      uploadBlobKey('0b8f6b6e-8c8e-4d4e-9a53-5a0b0c9b1a03', 'u1'),
    ];
    for (const key of keys) await store.put(key, bytes, { contentType: 'image/jpeg' });
    expect(Buffer.compare((await store.get(keys[0]!))!, bytes)).toBe(0);
    expect((await store.stat(keys[1]!))?.size).toBe(bytes.byteLength);
    expect((await store.list('inputs/')).sort()).toEqual(keys.slice(0, 2).sort());
    expect(await store.list('uploads/')).toEqual([keys[2]]);
    await expect(store.get(keys[0]!, { maxBytes: 1000 })).rejects.toBeInstanceOf(BlobTooLargeError);
    await store.delete([...keys, inputBlobKey('0b8f6b6e-8c8e-4d4e-9a53-5a0b0c9b1aff')]);
    expect(await store.list('')).toEqual([]);
    expect(await store.get(keys[0]!)).toBeNull();
    expect(await store.stat(keys[0]!)).toBeNull();
    await store.close();
  });

  it.each(['../escape', 'inputs/../../etc', '/absolute', 'a//b', '.hidden', ''])('refuses the key %j', async (key) => {
    const store = make();
    await expect(store.put(key, Buffer.from('x'))).rejects.toThrow(/not a blob key/);
    await store.close();
  });
});

describe('presigned PUTs', () => {
  it('take the bytes straight into the bucket, at the signed size only', async () => {
    const store = createBlobStore({
      url: `s3://${s3.bucket}/signed`,
      endpoint: s3.endpoint,
      accessKeyId: s3.accessKeyId,
      secretAccessKey: s3.secretAccessKey,
      forcePathStyle: true,
    });
    expect(store).toBeInstanceOf(S3BlobStore);
    const key = uploadBlobKey('0b8f6b6e-8c8e-4d4e-9a53-5a0b0c9b1a04', 'u2');
    const bytes = Buffer.from('not checked here, only moved');
    const put = (await store.presignPut(key, {
      contentType: 'image/png',
      size: bytes.byteLength,
      expiresInSeconds: 60,
    }))!;
    expect(put.url.startsWith(s3.endpoint)).toBe(true);
    const answer = await fetch(put.url, { method: 'PUT', headers: put.headers, body: bytes });
    expect(answer.status).toBe(200);
    expect(Buffer.compare((await store.get(key))!, bytes)).toBe(0);
    // The type and size are in the signature, so a bucket refuses a PUT of another type or size
    // (s3rver does not check SigV4 signatures; AWS S3, MinIO and R2 do).
    expect(new URL(put.url).searchParams.get('X-Amz-SignedHeaders')?.split(';')).toEqual(
      expect.arrayContaining(['content-length', 'content-type', 'host']),
    );
    await store.delete([key]);
    await store.close();
  });

  it('are not offered by the filesystem driver (the API takes the PUT)', async () => {
    const store = new FileBlobStore(folder);
    expect(
      await store.presignPut(uploadBlobKey('0b8f6b6e-8c8e-4d4e-9a53-5a0b0c9b1a05', 'u3'), {
        contentType: 'image/png',
        size: 1,
        expiresInSeconds: 60,
      }),
    ).toBeNull();
  });
});
