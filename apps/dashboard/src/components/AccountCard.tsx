import type { AccountView } from '@inferq/core';
import { formatBytes } from '../format.ts';
import { Meter } from './Meter.tsx';

export function AccountCard({ account }: { account: AccountView }) {
  const { tier, usage } = account;
  return (
    <section className="card account" aria-labelledby="account-title">
      <div className="card-head">
        <h2 id="account-title">Your plan</h2>
        <span className={`tier tier-${tier.name}`}>{tier.name}</span>
      </div>
      <Meter
        label={`Submissions in the last ${tier.rateWindowSeconds} s`}
        used={usage.submitsInWindow}
        limit={tier.submitsPerWindow}
      />
      <Meter label="Jobs in flight" used={usage.jobsInFlight} limit={tier.maxJobsInFlight} />
      <dl className="facts facts-compact">
        <dt>Largest upload</dt>
        <dd>{formatBytes(tier.maxUploadBytes)}</dd>
        <dt>Largest image</dt>
        <dd>{(tier.maxPixels / 1_000_000).toFixed(0)} megapixels</dd>
        <dt>Kept for</dt>
        <dd>{tier.retentionDays} days</dd>
      </dl>
    </section>
  );
}
