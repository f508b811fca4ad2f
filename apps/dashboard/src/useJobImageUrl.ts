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
    queryFn: ({ signal }) => client.jobImage(jobId, signal, size),
    staleTime: Infinity,
    retry: false,
  });
  const [url, setUrl] = useState<string | null>(null);
  const [broken, setBroken] = useState(false);
  useEffect(() => {
    if (!image.data) return;
    const objectUrl = URL.createObjectURL(image.data);
    setUrl(objectUrl);
    return () => URL.revokeObjectURL(objectUrl);
  }, [image.data]);
  return { url, error: image.error, isPending: image.isPending, broken, markBroken: () => setBroken(true) };
}
