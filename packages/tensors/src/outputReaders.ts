import type { OutputReader } from '@inferq/models';
import { toJsonData, type Tensor } from './tensorData.ts';

/**
 * What a tensor model's reader (the manifest's `reader`) makes of one request's outputs, stored
 * beside the tensors in the job's result. Rows are the request's batch rows (one when the output
 * has no batch axis).
 */
export type Reading =
  | { kind: 'classification'; top: Array<Array<{ label: string; score: number; index: number }>> }
  | { kind: 'embedding'; vectors: number[][] }
  | { kind: 'detection'; detections: Array<Array<{ box: number[]; score: number; class: number; label?: string }>> }
  | { kind: 'raw' };

export function readOutputs(reader: OutputReader | undefined, outputs: readonly Tensor[]): Reading {
  if (reader === undefined || reader.kind === 'raw') return { kind: 'raw' };
  const byName = (name: string | undefined) =>
    name === undefined ? outputs[0] : outputs.find((tensor) => tensor.name === name);
  if (reader.kind === 'classification') {
    const output = byName(reader.output);
    if (!output) return { kind: 'raw' };
    return {
      kind: 'classification',
      top: rowsOf(output, reader.labels.length).map((row) => {
        const scores = reader.activation === 'logits' ? softmax(row) : row;
        return scores
          .map((score, index) => ({ label: reader.labels[index] ?? String(index), score, index }))
          .sort((a, b) => b.score - a.score)
          .slice(0, reader.topK);
      }),
    };
  }
  if (reader.kind === 'embedding') {
    const output = byName(reader.output);
    if (!output) return { kind: 'raw' };
    const width = output.shape.length > 1 ? (output.shape.at(-1) as number) : output.data.length;
    return {
      kind: 'embedding',
      vectors: rowsOf(output, width).map((row) => (reader.normalize ? l2Normalized(row) : row)),
    };
  }
  const boxes = byName(reader.boxes);
  const scores = byName(reader.scores);
  const classes = reader.classes === undefined ? undefined : byName(reader.classes);
  if (!boxes || !scores) return { kind: 'raw' };
  const scoreValues = toNumbers(scores);
  const perImage = scores.shape.length > 1 ? (scores.shape.at(-1) as number) : scoreValues.length;
  const images = perImage === 0 ? 0 : scoreValues.length / perImage;
  const boxValues = toNumbers(boxes);
  const classValues = classes ? toNumbers(classes) : undefined;
  const detections: Array<Array<{ box: number[]; score: number; class: number; label?: string }>> = [];
  for (let image = 0; image < images; image++) {
    const found: Array<{ box: number[]; score: number; class: number; label?: string }> = [];
    for (let i = 0; i < perImage; i++) {
      const at = image * perImage + i;
      const score = scoreValues[at] as number;
      if (score < reader.minScore) continue;
      const cls = classValues ? (classValues[at] as number) : 0;
      const label = reader.labels?.[cls];
      found.push({
        box: boxValues.slice(at * 4, at * 4 + 4),
        score,
        class: cls,
        ...(label !== undefined ? { label } : {}),
      });
    }
    detections.push(found.sort((a, b) => b.score - a.score));
  }
  return { kind: 'detection', detections };
}

function toNumbers(tensor: Tensor): number[] {
  return toJsonData(tensor.datatype, tensor.data).map(Number);
}

/** The output's values cut into rows of `width`. */
function rowsOf(tensor: Tensor, width: number): number[][] {
  const values = toNumbers(tensor);
  const rows: number[][] = [];
  for (let i = 0; i + width <= values.length && width > 0; i += width) rows.push(values.slice(i, i + width));
  return rows;
}

function softmax(values: readonly number[]): number[] {
  const max = Math.max(...values);
  const exps = values.map((v) => Math.exp(v - max));
  const sum = exps.reduce((a, b) => a + b, 0);
  return exps.map((v) => v / sum);
}

function l2Normalized(values: readonly number[]): number[] {
  const norm = Math.sqrt(values.reduce((sum, v) => sum + v * v, 0));
  return norm === 0 ? [...values] : values.map((v) => v / norm);
}
