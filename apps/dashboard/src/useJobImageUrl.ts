import { useEffect, useState } from 'react';
import { useQuery } from '@tanstack/react-query';
import { useSignedIn } from './auth/SessionContext.tsx';

export interface JobImageUrl {
  /** An object URL of the bytes for an <img>; null until they arrive. */
  url: string | null;
  /** Why the bytes could not be read (an `ApiError`), or null. */
  error: Error | null;
  isPending: boolean;
  /** The <img> could not draw the bytes (a format this browser does not show). */
  broken: boolean;
  /** The <img>'s `onError`. */
  markBroken(): void;
}

/**
 * A job's input, or with `size` its square WebP thumbnail that many pixels wide, as an object URL.
 * The bytes are fetched with the key (an <img> cannot send headers) and read once per job and
 * size; each URL is revoked when the bytes change or the component unmounts, so a page of
 * thumbnails does not keep every blob it ever showed.
 */
export function useJobImageUrl(jobId: string, size?: number): JobImageUrl {
  const { client } = useSignedIn();
  const image = useQuery({
    queryKey: ['job-image', jobId, size ?? null],
    queryFn: ({ signal }) => client.jobs.image(jobId, signal, size),
    staleTime: Infinity,
    retry: false,
  });
  // Each URL is kept with the bytes it was made of, so once the job (or size) changes the old,
  // revoked URL is never handed to an <img>; likewise "broken" belongs to the bytes it was said of.
  const [made, setMade] = useState<{ blob: Blob; url: string } | null>(null);
  const [brokenBlob, setBrokenBlob] = useState<Blob | null>(null);
  useEffect(() => {
    if (!image.data) return;
    const blob = image.data;
    const objectUrl = URL.createObjectURL(blob);
    setMade({ blob, url: objectUrl });
    return () => URL.revokeObjectURL(objectUrl);
  }, [image.data]);
  const current = image.data !== undefined && made?.blob === image.data ? made : null;
  return {
    url: current?.url ?? null,
    error: image.error,
    isPending: image.isPending,
    broken: current !== null && brokenBlob === current.blob,
    markBroken: () => setBrokenBlob(current?.blob ?? null),
  };
}
