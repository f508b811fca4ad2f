import type { AdmissionView, UserView } from '@inferq/core';

const resources = [
  { key: 'submits', label: 'Submissions in progress', unit: (n: number) => n.toLocaleString() },
  { key: 'uploadBytes', label: 'Upload memory', unit: (n: number) => `${(n / 1024 / 1024).toFixed(1)} MiB` },
  { key: 'decodePixels', label: 'Decoding', unit: (n: number) => `${(n / 1e6).toFixed(1)} MP` },
  { key: 'streams', label: 'Live streams', unit: (n: number) => n.toLocaleString() },
] as const satisfies ReadonlyArray<{ key: keyof AdmissionView; label: string; unit: (n: number) => string }>;

/**
 * Admission in the API process that answered: each fair-queued resource's use, and per user what
 * they hold, how many of their requests wait for their turn now, and how many waited or were
 * refused since the process started. A user alone may hold everything; under contention each
 * active user gets an equal turn, weighted by tier.
 */
export function AdmissionPanel({ view, users = [] }: { view: AdmissionView; users?: UserView[] | undefined }) {
  const emails = new Map(users.map((user) => [user.id, user.email]));
  const rows = resources.flatMap(({ key, label, unit }) =>
    view[key].users
      .filter((user) => user.held > 0 || user.waiting > 0 || user.queued > 0 || user.refused > 0)
      .map((user) => ({ resource: label, unit, ...user })),
  );
  return (
    <section className="card" aria-labelledby="admission-title" data-testid="admission-panel">
      <div className="card-head">
        <h2 id="admission-title">Admission</h2>
        <span className="muted small">fair queues of this API process</span>
      </div>
      <div className="grid grid-four">
        {resources.map(({ key, label, unit }) => (
          <div key={key}>
            <div className="muted small">{label}</div>
            <div className="mono">
              {unit(view[key].inUse)} / {unit(view[key].capacity)}
            </div>
            <div className="muted small">{view[key].waiting} waiting</div>
          </div>
        ))}
      </div>
      {rows.length === 0 ? (
        <p className="muted small">No user has waited for a turn or been refused.</p>
      ) : (
        <div className="table-wrap">
          <table className="table" data-testid="admission-users">
            <thead>
              <tr>
                <th>Resource</th>
                <th>User</th>
                <th className="num">Held</th>
                <th className="num">Waiting now</th>
                <th className="num">Waited</th>
                <th className="num">Refused</th>
              </tr>
            </thead>
            <tbody>
              {rows.map((row) => (
                <tr key={`${row.resource}-${row.userId}`}>
                  <td>{row.resource}</td>
                  <td className="mono small">{emails.get(row.userId) ?? row.userId}</td>
                  <td className="num">{row.unit(row.held)}</td>
                  <td className="num">{row.waiting}</td>
                  <td className="num">{row.queued}</td>
                  <td className="num">{row.refused}</td>
                </tr>
              ))}
            </tbody>
          </table>
        </div>
      )}
    </section>
  );
}
