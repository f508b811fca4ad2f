// The images clients send: photo-like JPEGs (gradients and noise, quality 85) from the shared
// fixtures, so every run sends the same bytes.
import { photoLikeImage } from '@inferq/images/testing';
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
