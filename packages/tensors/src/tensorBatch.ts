import type { TensorSpec } from '@inferq/models';
import { datatypes, isNumericDatatype, type Tensor, type TensorData } from './tensorData.ts';

/**
 * Batching across requests: requests whose inputs agree on every dim but the batch axis (the
 * first, where the model declares it dynamic) run as one model call, their tensors stacked on
 * that axis; each output is split back by the rows each request brought.
 */

/** The rows a request brings on the batch axis, or null when the model has no dynamic batch axis on every input. */
export function batchRows(inputs: readonly Tensor[], specs: readonly TensorSpec[]): number | null {
  if (specs.some((spec) => spec.shape.length === 0 || spec.shape[0] !== -1)) return null;
  const rows = inputs[0]?.shape[0];
  if (rows === undefined || inputs.some((tensor) => tensor.shape[0] !== rows)) return null;
  return rows;
}

/** Requests with the same key can be stacked: the same datatypes and the same dims after the batch axis. */
export function batchKey(inputs: readonly Tensor[]): string {
  return inputs.map((tensor) => `${tensor.name}:${tensor.datatype}:${tensor.shape.slice(1).join('x')}`).join('|');
}

/** Stacks each input of `requests` (same names, same key) on the batch axis. */
export function stackOnBatchAxis(requests: ReadonlyArray<readonly Tensor[]>): Tensor[] {
  const first = requests[0] as readonly Tensor[];
  if (requests.length === 1) return [...first];
  return first.map((tensor, index) => {
    const parts = requests.map((inputs) => (inputs[index] as Tensor).data);
    const rows = requests.reduce((sum, inputs) => sum + ((inputs[index] as Tensor).shape[0] as number), 0);
    return {
      name: tensor.name,
      datatype: tensor.datatype,
      shape: [rows, ...tensor.shape.slice(1)],
      data: concat(tensor.datatype, parts),
    };
  });
}

/**
 * Splits an output of a stacked call into one tensor per request, by the rows each brought.
 * Null when the output's first axis is not the batch (its size is not the rows' sum).
 */
export function splitOnBatchAxis(output: Tensor, rows: readonly number[]): Tensor[] | null {
  const total = rows.reduce((a, b) => a + b, 0);
  if (output.shape.length === 0 || output.shape[0] !== total) return null;
  const per = total === 0 ? 0 : output.data.length / total;
  const parts: Tensor[] = [];
  let offset = 0;
  for (const n of rows) {
    parts.push({
      name: output.name,
      datatype: output.datatype,
      shape: [n, ...output.shape.slice(1)],
      data: output.data.slice(offset * per, (offset + n) * per),
    });
    offset += n;
  }
  return parts;
}

function concat(datatype: Tensor['datatype'], parts: readonly TensorData[]): TensorData {
  if (!isNumericDatatype(datatype)) throw new Error(`datatype ${datatype} cannot be batched`);
  const out = datatypes[datatype].create(parts.reduce((sum, part) => sum + part.length, 0));
  let offset = 0;
  for (const part of parts) {
    (out as Uint8Array).set(part as Uint8Array, offset);
    offset += part.length;
  }
  return out;
}
