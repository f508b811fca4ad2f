// The images clients send: photo-like JPEGs (gradients and noise, quality 85) from the shared
// fixtures, or real photos (benchPhotos), so every run sends the same bytes.
import { mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import sharp from 'sharp';
import { photoLikeImage } from '@inferq/images/testing';
import { repoRoot } from '@inferq/testing';
import { multipartImage, type MultipartBody } from './loadClient.ts';

export interface BenchImage {
  bytes: Buffer;
  width: number;
  height: number;
  upload: MultipartBody;
}

/** `spec` is `WIDTHxHEIGHT`, e.g. `1024x768`. */
export async function benchImage(spec: string): Promise<BenchImage> {
  const match = /^(\d+)x(\d+)$/.exec(spec);
  if (!match) throw new Error(`image size must look like 1024x768, got ${spec}`);
  const width = Number(match[1]);
  const height = Number(match[2]);
  const bytes = await photoLikeImage(width, height, 'jpeg');
  return { bytes, width, height, upload: multipartImage(bytes, `bench-${spec}.jpg`, 'image/jpeg') };
}

/**
 * Real photos for the benchmarks: `fixtures` (the committed test photos), `synthetic` (one
 * photo-like 1024×768 JPEG) or a folder of JPEG, PNG and WebP files; resized to `size`
 * (`WIDTHxHEIGHT`) and re-encoded as JPEG at quality 90, or sent as they are with `native`. Each is
 * also written under bench-results/, for benchmark processes that read them from a file.
 */
export async function benchPhotos(source: string, size: string): Promise<Array<{ file: string; bytes: Buffer }>> {
  let originals: Buffer[];
  if (source === 'synthetic') originals = [await photoLikeImage(1024, 768, 'jpeg')];
  else {
    const dir =
      source === 'fixtures' ? path.join(repoRoot, 'packages/inference/test/fixtures/photos') : path.resolve(source);
    originals = readdirSync(dir)
      .filter((name) => /\.(jpe?g|png|webp)$/i.test(name))
      .sort()
      .map((name) => readFileSync(path.join(dir, name)));
    if (originals.length === 0) throw new Error(`no JPEG, PNG or WebP files in ${dir}`);
  }
  const match = /^(\d+)x(\d+)$/.exec(size);
  if (!match && size !== 'native') throw new Error(`--image must look like 1024x768 or be native, got ${size}`);
  const out = path.join(
    repoRoot,
    'bench-results',
    `photos-${source === 'fixtures' || source === 'synthetic' ? source : 'dir'}-${size}`,
  );
  mkdirSync(out, { recursive: true });
  return Promise.all(
    originals.map(async (original, i) => {
      const bytes = match
        ? await sharp(original)
            .resize(Number(match[1]), Number(match[2]), { fit: 'fill' })
            .jpeg({ quality: 90 })
            .toBuffer()
        : original;
      const file = path.join(out, `${i}.img`);
      writeFileSync(file, bytes);
      return { file, bytes };
    }),
  );
}
