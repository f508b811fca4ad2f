import { mkdtemp, rm } from 'node:fs/promises';
import { createRequire } from 'node:module';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';

interface S3rverInstance {
  run(): Promise<AddressInfo>;
  close(): Promise<void>;
}
type S3rverConstructor = new (options: Record<string, unknown>) => S3rverInstance;

/** A real S3-API server (s3rver) on 127.0.0.1, its objects in a temporary folder. */
export interface S3Server {
  /** `http://127.0.0.1:<port>`: the endpoint to give the SDK (path-style addressing). */
  endpoint: string;
  bucket: string;
  /** s3rver's fixed credentials; it checks signatures made with them. */
  accessKeyId: string;
  secretAccessKey: string;
  stop(): Promise<void>;
}

/**
 * Starts s3rver with one bucket (a fresh name unless given). It implements the S3 REST API
 * (signatures checked, presigned URLs, multi-object delete, ListObjectsV2) over HTTP, so the S3
 * driver is tested against the wire protocol, not a stand-in object.
 */
export async function startS3Server(options: { bucket?: string } = {}): Promise<S3Server> {
  const S3rver = createRequire(import.meta.url)('s3rver') as S3rverConstructor;
  const directory = await mkdtemp(path.join(tmpdir(), 'inferq-s3rver-'));
  const bucket = options.bucket ?? `test-${Math.random().toString(36).slice(2, 10)}`;
  const server = new S3rver({
    address: '127.0.0.1',
    port: 0,
    silent: true,
    directory,
    configureBuckets: [{ name: bucket }],
    vhostBuckets: false,
  });
  const { port } = await server.run();
  return {
    endpoint: `http://127.0.0.1:${port}`,
    bucket,
    accessKeyId: 'S3RVER',
    secretAccessKey: 'S3RVER',
    async stop() {
      await server.close();
      await rm(directory, { recursive: true, force: true });
    },
  };
}
