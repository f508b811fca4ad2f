import { useEffect, useState } from 'react';
import { useQuery } from '@tanstack/react-query';
import type { JobView } from '@inferq/core';
import { useSignedIn } from '../auth/SessionContext.tsx';

/**
 * A small picture of a job's input in the list. The bytes come with the key (an <img> cannot send
 * headers) under the same query as the job page's picture, so opening the job shows it at once;
 * an input past retention, or one this browser cannot draw, is an empty square.
 */
export function JobThumbnail({ job }: { job: JobView }) {
  const { client } = useSignedIn();
  const image = useQuery({ queryKey: ['job-image', job.id], queryFn: ({ signal }) => client.jobImage(job.id, signal), staleTime: Infinity, retry: false });
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
