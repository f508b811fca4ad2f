import { useEffect, useState } from 'react';
import { useQuery } from '@tanstack/react-query';
import type { JobView } from '@inferq/core';
import { useSignedIn } from '../auth/SessionContext.tsx';

/** Pixels of the thumbnail asked for: the 44 px square drawn twice over, for sharp high-density screens. */
const thumbnailSide = 88;

/**
 * A small picture of a job's input in the list: a few-kB WebP the API makes (`?size=`), not the
 * upload's megabytes. The bytes come with the key (an <img> cannot send headers); an input past
 * retention, or one this browser cannot draw, is an empty square.
 */
export function JobThumbnail({ job }: { job: JobView }) {
  const { client } = useSignedIn();
  const image = useQuery({
    queryKey: ['job-thumbnail', job.id],
    queryFn: ({ signal }) => client.jobImage(job.id, signal, thumbnailSide),
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

  if (!url || broken || image.error) return <span className={`thumb thumb-empty${image.isPending ? ' thumb-loading' : ''}`} aria-hidden="true" />;
  return <img className="thumb" src={url} alt="" width={44} height={44} onError={() => setBroken(true)} data-testid="job-thumbnail" />;
}
