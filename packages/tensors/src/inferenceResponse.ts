import type { TensorDatatype } from '@inferq/models';
import type { RequestedOutput } from './inferenceRequest.ts';
import type { Reading } from './outputReaders.ts';
import { fromStoredJson, toBinaryData, toJsonData, type Tensor } from './tensorData.ts';

/** One output tensor in the protocol's JSON shape, as a finished tensor job's result stores it. */
export interface ProtocolOutput {
  name: string;
  datatype: TensorDatatype;
  shape: number[];
  data: Array<number | boolean>;
}

/** A tensor job's result (the `output` column of its result row): the outputs and their reading. */
export interface TensorResult {
  outputs: ProtocolOutput[];
  reading: Reading;
}

export function isTensorResult(value: unknown): value is TensorResult {
  return (
    typeof value === 'object' &&
    value !== null &&
    !Array.isArray(value) &&
    Array.isArray((value as TensorResult).outputs)
  );
}

/** The outputs kept for a request: those it asked for, in its order, else all of them. */
export function selectOutputs(outputs: readonly Tensor[], requested: readonly RequestedOutput[] | null): Tensor[] {
  if (requested === null) return [...outputs];
  return requested
    .map((want) => outputs.find((tensor) => tensor.name === want.name))
    .filter((tensor): tensor is Tensor => tensor !== undefined);
}

export function toProtocolOutput(tensor: Tensor): ProtocolOutput {
  return {
    name: tensor.name,
    datatype: tensor.datatype,
    shape: tensor.shape,
    data: toJsonData(tensor.datatype, tensor.data),
  };
}

/** The protocol's inference response object, before the binary extension is applied. */
export interface InferResponseBody {
  model_name: string;
  model_version: string;
  id?: string;
  parameters?: Record<string, unknown>;
  outputs: Array<{
    name: string;
    datatype: string;
    shape: number[];
    parameters?: Record<string, unknown>;
    data?: Array<number | boolean>;
  }>;
}

export interface EncodedInferResponse {
  body: Buffer;
  contentType: string;
  /** The JSON header's length, when binary outputs follow it (`Inference-Header-Content-Length`). */
  headerLength?: number;
}

/**
 * The response to an inference request: JSON, or the binary-data extension when an output is
 * asked for as binary (`parameters.binary_data`, or `binary_data_output` on the request), whose
 * bytes then follow the JSON header in output order.
 */
export function encodeInferResponse(
  meta: { modelName: string; modelVersion: string; id?: string; parameters?: Record<string, unknown> },
  outputs: readonly ProtocolOutput[],
  requested: readonly RequestedOutput[] | null,
  binaryOutputs: boolean,
): EncodedInferResponse {
  const binaryParts: Uint8Array[] = [];
  const body: InferResponseBody = {
    model_name: meta.modelName,
    model_version: meta.modelVersion,
    ...(meta.id !== undefined ? { id: meta.id } : {}),
    ...(meta.parameters !== undefined ? { parameters: meta.parameters } : {}),
    outputs: outputs.map((output) => {
      const binary = requested?.find((want) => want.name === output.name)?.binary ?? binaryOutputs;
      if (!binary) return { name: output.name, datatype: output.datatype, shape: output.shape, data: output.data };
      const bytes = toBinaryData(fromStoredJson(output.datatype, output.data));
      binaryParts.push(bytes);
      return {
        name: output.name,
        datatype: output.datatype,
        shape: output.shape,
        parameters: { binary_data_size: bytes.byteLength },
      };
    }),
  };
  const json = Buffer.from(JSON.stringify(body));
  if (binaryParts.length === 0) return { body: json, contentType: 'application/json' };
  return {
    body: Buffer.concat([json, ...binaryParts]),
    contentType: 'application/octet-stream',
    headerLength: json.byteLength,
  };
}
