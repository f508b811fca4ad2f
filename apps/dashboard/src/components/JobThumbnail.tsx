import type { JobView } from '@inferq/core';
import { useJobImageUrl } from '../useJobImageUrl.ts';

/** Pixels of the thumbnail asked for: the 44 px square drawn twice over, for sharp high-density screens. */
const thumbnailSide = 88;

/**
 * A small picture of a job's input in the list: a few-kB WebP the API makes (`?size=`), not the
 * upload's megabytes. The bytes come with the key (an <img> cannot send headers); an input past
 * retention, or one this browser cannot draw, is an empty square.
 */
export function JobThumbnail({ job }: { job: JobView }) {
  const { url, error, isPending, broken, markBroken } = useJobImageUrl(job.id, thumbnailSide);

  if (!url || broken || error)
    return <span className={`thumb thumb-empty${isPending ? ' thumb-loading' : ''}`} aria-hidden="true" />;
  return (
    <img className="thumb" src={url} alt="" width={44} height={44} onError={markBroken} data-testid="job-thumbnail" />
  );
}
