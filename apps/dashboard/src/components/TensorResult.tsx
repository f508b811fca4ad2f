import type { JobView } from '@inferq/core';
import { formatPercent } from '../format.ts';

type Result = NonNullable<JobView['result']>;

/** The first values of a tensor, enough to recognise it. */
export function previewValues(data: ReadonlyArray<number | boolean>, max = 8): string {
  const shown = data
    .slice(0, max)
    .map((value) => (typeof value === 'number' ? Number(value.toPrecision(4)).toString() : String(value)));
  return `${shown.join(', ')}${data.length > max ? `, … (${data.length})` : ''}`;
}

/**
 * A tensor model's result: what its reader made of the outputs (top labels, embedding vectors,
 * detections), then each output tensor with its datatype, shape and first values.
 */
export function TensorResult({ result }: { result: Result }) {
  const { reading, outputs } = result;
  return (
    <div data-testid="tensor-result">
      {reading?.kind === 'classification' && (
        <ol className="tensor-reading" data-testid="reading-classification">
          {(reading.top[0] ?? []).map((entry) => (
            <li key={entry.index}>
              {entry.label} · {formatPercent(entry.score)}
            </li>
          ))}
        </ol>
      )}
      {reading?.kind === 'embedding' && (
        <p className="muted" data-testid="reading-embedding">
          {reading.vectors.length} embedding{reading.vectors.length === 1 ? '' : 's'} of{' '}
          {reading.vectors[0]?.length ?? 0} dimensions: [{previewValues(reading.vectors[0] ?? [])}]
        </p>
      )}
      {reading?.kind === 'detection' && (
        <table className="table" data-testid="reading-detection">
          <thead>
            <tr>
              <th scope="col">Class</th>
              <th scope="col">Score</th>
              <th scope="col">Box</th>
            </tr>
          </thead>
          <tbody>
            {(reading.detections[0] ?? []).map((found, index) => (
              <tr key={index}>
                <td>{found.label ?? `#${found.class}`}</td>
                <td>{formatPercent(found.score)}</td>
                <td className="mono">{previewValues(found.box, 4)}</td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
      <table className="table" data-testid="tensor-outputs">
        <thead>
          <tr>
            <th scope="col">Output</th>
            <th scope="col">Type</th>
            <th scope="col">Shape</th>
            <th scope="col">Values</th>
          </tr>
        </thead>
        <tbody>
          {(outputs ?? []).map((output) => (
            <tr key={output.name}>
              <td className="mono">{output.name}</td>
              <td>{output.datatype}</td>
              <td className="mono">[{output.shape.join(', ')}]</td>
              <td className="mono">{previewValues(output.data)}</td>
            </tr>
          ))}
        </tbody>
      </table>
    </div>
  );
}
