import { mkdtemp, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { startS3Server, type S3Server } from '@inferq/testing';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { z } from 'zod';
import {
  blobStoreEnvShape,
  blobStoreSettingsFromEnv,
  BlobTooLargeError,
  createBlobStore,
  FileBlobStore,
  inputBlobKey,
  S3BlobStore,
  uploadBlobKey,
  type BlobStore,
} from '../src/index.ts';
import { FileWriterThread } from '../src/fileWriterThread.ts';

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

const drivers: Array<[string, string, () => BlobStore]> = [
  ['file', 'file', () => createBlobStore({ url: `file://${folder}/` })],
  ['file (thread pool only)', 'file', () => createBlobStore({ url: `file://${folder}/`, fileBlockingMaxBytes: 0 })],
  [
    'file (writes on the writer thread)',
    'file',
    () => createBlobStore({ url: `file://${folder}/`, fileMayBlock: () => false, fileWriterThread: true }),
  ],
  [
    's3',
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

describe.each(drivers)('the %s driver', (_label, kind, make) => {
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

describe('the file driver on both sides of its blocking limit', () => {
  const limit = 64 * 1024;
  const sizes = [0, 1, limit - 1, limit, limit + 1, 3 * limit + 17];

  const ways: Array<[string, { blockingMaxBytes: number; mayBlock?: () => boolean; writerThread?: boolean }]> = [
    [`blocking up to ${limit} bytes`, { blockingMaxBytes: limit }],
    ['through the pool only', { blockingMaxBytes: 0 }],
    [
      `on the writer thread up to ${limit} bytes`,
      { blockingMaxBytes: limit, mayBlock: () => false, writerThread: true },
    ],
  ];

  it.each(ways)('writes and reads blobs whole and atomically (%s)', async (_label, options) => {
    const root = path.join(folder, `limit-${_label.replaceAll(' ', '-')}`);
    const store = new FileBlobStore(root, options);
    expect(store.blockingMaxBytes).toBe(options.blockingMaxBytes);
    for (const size of sizes) {
      const key = inputBlobKey(`0b8f6b6e-8c8e-4d4e-9a53-5a0b0c${String(size).padStart(6, '0')}`);
      const bytes = Buffer.from(Array.from({ length: size }, (_, i) => (i * 7 + size) % 256));
      await store.put(key, bytes);
      const read = await store.get(key);
      expect(read?.byteLength).toBe(size);
      expect(Buffer.compare(read!, bytes)).toBe(0);
      expect((await store.get(key, { maxBytes: size }))?.byteLength).toBe(size);
      if (size > 0) await expect(store.get(key, { maxBytes: size - 1 })).rejects.toBeInstanceOf(BlobTooLargeError);
      // Replaced whole: a reader sees the new bytes, never a mix.
      const again = Buffer.alloc(size, 0xab);
      await store.put(key, again);
      expect(Buffer.compare((await store.get(key))!, again)).toBe(0);
    }
    // Nothing but the blobs themselves is left in the folder (no temporary files).
    expect((await store.list('inputs/')).length).toBe(sizes.length);
    const files = await readdir(path.join(root, 'inputs'), { recursive: true });
    expect(files.filter((name) => name.includes('.tmp'))).toEqual([]);
    expect(await store.get(inputBlobKey('0b8f6b6e-8c8e-4d4e-9a53-5a0b0c9b1aff'))).toBeNull();
    await store.close();
  });

  it('fails the writes of a writer thread that dies, and writes the next on a new one', async () => {
    const writer = new FileWriterThread({ script: new URL('./fixtures/failingWriterThread.ts', import.meta.url) });
    const root = path.join(folder, 'writer-dies');
    const file = (name: string) => path.join(root, name);
    await writer.write(file('first'), file('.first.tmp'), Buffer.from('one'));
    const lost = writer.write(file('fail'), file('.fail.tmp'), Buffer.from('two'));
    await expect(lost).rejects.toThrow(/writer thread failed/);
    // Sent at once, to the next thread: the dead thread's exit fails none of its writes.
    await writer.write(file('second'), file('.second.tmp'), Buffer.from('three'));
    await new Promise((resolve) => setTimeout(resolve, 50));
    await writer.write(file('third'), file('.third.tmp'), Buffer.from('four'));
    expect((await readdir(root)).sort()).toEqual(['first', 'second', 'third']);
    await writer.close();
  });

  it('writes many blobs at once on the writer thread, and close() waits for them', async () => {
    const root = path.join(folder, 'writer-many');
    const store = new FileBlobStore(root, { mayBlock: () => false, writerThread: true });
    const keys = Array.from({ length: 200 }, (_, i) =>
      inputBlobKey(`0b8f6b6e-8c8e-4d4e-9a53-5a0b0c${String(i).padStart(6, '0')}`),
    );
    const written = keys.map((key, i) => store.put(key, Buffer.alloc(1000 + i, i % 256)));
    const closed = store.close();
    await Promise.all(written);
    await closed;
    const reader = new FileBlobStore(root);
    for (const [i, key] of keys.entries())
      expect(Buffer.compare((await reader.get(key))!, Buffer.alloc(1000 + i, i % 256))).toBe(0);
    // Closed: the thread is gone, and a write is refused rather than lost.
    await expect(store.put(keys[0]!, Buffer.alloc(1))).rejects.toThrow(/closed/);
  });

  it('asks mayBlock before each blocking call, and gives the same bytes whatever it answers', async () => {
    const answers = [true, false, true, false];
    const asked: boolean[] = [];
    const store = new FileBlobStore(path.join(folder, 'may-block'), {
      blockingMaxBytes: limit,
      mayBlock: () => {
        const answer = answers[asked.length % answers.length]!;
        asked.push(answer);
        return answer;
      },
    });
    const bytes = Buffer.from(Array.from({ length: 5000 }, (_, i) => i % 253));
    const keys = [1, 2].map((i) => inputBlobKey(`0b8f6b6e-8c8e-4d4e-9a53-5a0b0c9b1a0${i}`));
    for (const key of keys) await store.put(key, bytes);
    for (const key of keys) expect(Buffer.compare((await store.get(key))!, bytes)).toBe(0);
    expect(asked).toEqual(answers);
    // Past the limit it is not asked: that size always goes through the pool.
    await store.put(keys[0]!, Buffer.alloc(limit + 1, 1));
    expect(asked.length).toBe(answers.length);
  });

  it('takes BLOB_STORE_FILE_BLOCKING_MAX_BYTES from the environment (1 MiB by default)', () => {
    const schema = z.object(blobStoreEnvShape);
    const of = (env: Record<string, string>) =>
      createBlobStore(blobStoreSettingsFromEnv(schema.parse(env))!) as FileBlobStore;
    expect(of({ BLOB_STORE_URL: `file://${folder}/` }).blockingMaxBytes).toBe(1024 * 1024);
    expect(of({ BLOB_STORE_URL: `file://${folder}/`, BLOB_STORE_FILE_BLOCKING_MAX_BYTES: '0' }).blockingMaxBytes).toBe(
      0,
    );
    expect(() => schema.parse({ BLOB_STORE_FILE_BLOCKING_MAX_BYTES: '-1' })).toThrow();
  });

  it('keeps the error of a folder it cannot write, and leaves no temporary file', async () => {
    const blocked = path.join(folder, 'not-a-folder');
    await writeFile(blocked, 'a file where the store expects a folder');
    for (const [, options] of ways) {
      const store = new FileBlobStore(blocked, options);
      await expect(
        store.put(inputBlobKey('0b8f6b6e-8c8e-4d4e-9a53-5a0b0c9b1a01'), Buffer.alloc(10)),
      ).rejects.toMatchObject({
        code: 'ENOTDIR',
      });
      await store.close();
    }
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
