import { inferRequestSchema } from '@inferq/core';
import { tensorDatatypes, type TensorSpec } from '@inferq/models';
import {
  elementBytes,
  elementCount,
  fromBinaryData,
  fromJsonData,
  invalidTensor,
  isNumericDatatype,
  type Tensor,
} from './tensorData.ts';

/**
 * The Open Inference Protocol's inference request (KServe v2 REST, `POST /v2/models/{name}/infer`),
 * as JSON or with the binary-data extension: the JSON header first (its length in the
 * `Inference-Header-Content-Length` header), then the binary tensors in the order of the inputs
 * that carry `parameters.binary_data_size`.
 */
export { inferRequestSchema, type InferRequestBody } from '@inferq/core';

/** One output the request asks for, and whether it wants it as binary data. */
export interface RequestedOutput {
  name: string;
  binary: boolean;
}

/** A request checked against its model: every input of the model, of its datatype and shape. */
export interface InferRequest {
  id?: string;
  inputs: Tensor[];
  /** The outputs asked for, in the request's order; null: all of the model's, as JSON unless `binaryOutputs`. */
  outputs: RequestedOutput[] | null;
  /** `parameters.binary_data_output`: every output not asked for by name comes back binary. */
  binaryOutputs: boolean;
}

/** A model's tensor signature. */
export interface TensorSignature {
  inputs: readonly TensorSpec[];
  outputs: readonly TensorSpec[];
}

/**
 * Splits a request body into its JSON header and the binary section after it. `headerLength` is
 * the `Inference-Header-Content-Length` header (absent: the whole body is JSON).
 */
export function splitInferBody(
  body: Uint8Array,
  headerLength: number | undefined,
): { header: unknown; binary: Uint8Array } {
  if (
    headerLength !== undefined &&
    (!Number.isInteger(headerLength) || headerLength < 0 || headerLength > body.byteLength)
  ) {
    throw invalidTensor(`Inference-Header-Content-Length is ${headerLength}, the body has ${body.byteLength} bytes`);
  }
  const end = headerLength ?? body.byteLength;
  let header: unknown;
  try {
    header = JSON.parse(Buffer.from(body.buffer, body.byteOffset, end).toString('utf8'));
  } catch (error) {
    throw invalidTensor(`the inference request header is not JSON: ${(error as Error).message}`);
  }
  return { header, binary: body.subarray(end) };
}

/**
 * Parses and checks an inference request against `signature`. Throws INVALID_TENSOR (400) for
 * anything the model cannot take: a missing, unknown or repeated input, a datatype or shape other
 * than the model's, an element count that does not fit the shape, binary data that does not add
 * up, an unknown output.
 */
export function parseInferRequest(header: unknown, binary: Uint8Array, signature: TensorSignature): InferRequest {
  const parsed = inferRequestSchema.safeParse(header);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    throw invalidTensor(
      `the inference request is not valid: ${issue ? `${issue.path.join('.') || '(root)'}: ${issue.message}` : 'invalid'}`,
    );
  }
  const body = parsed.data;
  const specs = new Map(signature.inputs.map((spec) => [spec.name, spec]));
  const seen = new Set<string>();
  let offset = 0;
  const inputs: Tensor[] = [];
  for (const input of body.inputs) {
    const spec = specs.get(input.name);
    if (!spec)
      throw invalidTensor(`the model has no input "${input.name}"; its inputs are ${[...specs.keys()].join(', ')}`, {
        input: input.name,
      });
    if (seen.has(input.name)) throw invalidTensor(`input "${input.name}" is given twice`, { input: input.name });
    seen.add(input.name);
    if (!(tensorDatatypes as readonly string[]).includes(input.datatype) || input.datatype !== spec.datatype) {
      throw invalidTensor(`input "${input.name}" is ${spec.datatype}, the request sends ${input.datatype}`, {
        input: input.name,
        expected: spec.datatype,
        actual: input.datatype,
      });
    }
    checkShape(input.name, input.shape, spec.shape);
    const count = elementCount(input.shape);
    const binarySize = input.parameters?.binary_data_size;
    let tensor: Tensor;
    if (binarySize !== undefined) {
      if (typeof binarySize !== 'number' || !Number.isInteger(binarySize) || binarySize < 0)
        throw invalidTensor(`input "${input.name}": binary_data_size must be a whole number of bytes`, {
          input: input.name,
        });
      if (input.data !== undefined)
        throw invalidTensor(`input "${input.name}" has both data and binary_data_size`, { input: input.name });
      if (offset + binarySize > binary.byteLength)
        throw invalidTensor(
          `input "${input.name}" names ${binarySize} bytes of binary data; the body holds ${binary.byteLength - offset} more`,
          { input: input.name },
        );
      if (!isNumericDatatype(spec.datatype)) throw invalidTensor(`datatype ${spec.datatype} is not served`);
      if (binarySize !== count * elementBytes(spec.datatype)) {
        throw invalidTensor(
          `input "${input.name}" has ${binarySize} bytes of binary data, its shape needs ${count * elementBytes(spec.datatype)}`,
          { input: input.name, expected: count * elementBytes(spec.datatype), actual: binarySize },
        );
      }
      tensor = {
        name: input.name,
        datatype: spec.datatype,
        shape: input.shape,
        data: fromBinaryData(input.name, spec.datatype, binary.subarray(offset, offset + binarySize), count),
      };
      offset += binarySize;
    } else {
      if (input.data === undefined)
        throw invalidTensor(`input "${input.name}" has no data and no binary_data_size`, { input: input.name });
      tensor = {
        name: input.name,
        datatype: spec.datatype,
        shape: input.shape,
        data: fromJsonData(input.name, spec.datatype, input.data, count),
      };
    }
    inputs.push(tensor);
  }
  if (offset !== binary.byteLength)
    throw invalidTensor(`the body holds ${binary.byteLength - offset} bytes of binary data no input names`);
  const missing = signature.inputs.filter((spec) => !seen.has(spec.name)).map((spec) => spec.name);
  if (missing.length > 0)
    throw invalidTensor(
      `the request lacks input${missing.length > 1 ? 's' : ''} ${missing.map((name) => `"${name}"`).join(', ')}`,
      { missing },
    );
  checkBatchAxis(inputs, signature);
  const binaryOutputs = body.parameters?.binary_data_output === true;
  const outputNames = new Set(signature.outputs.map((spec) => spec.name));
  const outputs = body.outputs?.map((output): RequestedOutput => {
    if (!outputNames.has(output.name))
      throw invalidTensor(`the model has no output "${output.name}"; its outputs are ${[...outputNames].join(', ')}`, {
        output: output.name,
      });
    const flag = output.parameters?.binary_data;
    return { name: output.name, binary: typeof flag === 'boolean' ? flag : binaryOutputs };
  });
  return {
    ...(body.id !== undefined ? { id: body.id } : {}),
    inputs: ordered(inputs, signature),
    outputs: outputs === undefined || outputs.length === 0 ? null : outputs,
    binaryOutputs,
  };
}

function checkShape(name: string, shape: readonly number[], expected: readonly number[]): void {
  const mismatch = shape.length !== expected.length || expected.some((dim, i) => dim !== -1 && dim !== shape[i]);
  if (mismatch) {
    throw invalidTensor(`input "${name}" has shape [${shape.join(', ')}], the model takes [${expected.join(', ')}]`, {
      input: name,
      expected,
      actual: shape,
    });
  }
}

/** Inputs whose first axis is the batch axis must agree on its size: one request is one batch. */
function checkBatchAxis(inputs: readonly Tensor[], signature: TensorSignature): void {
  const batched = signature.inputs
    .filter((spec) => spec.shape[0] === -1 && spec.shape.length > 0)
    .map((spec) => spec.name);
  if (batched.length !== signature.inputs.length || batched.length < 2) return;
  const sizes = new Set(inputs.map((tensor) => tensor.shape[0]));
  if (sizes.size > 1)
    throw invalidTensor(`the inputs' batch axes differ (${inputs.map((t) => `${t.name}: ${t.shape[0]}`).join(', ')})`, {
      batchSizes: Object.fromEntries(inputs.map((t) => [t.name, t.shape[0]])),
    });
}

function ordered(inputs: Tensor[], signature: TensorSignature): Tensor[] {
  const byName = new Map(inputs.map((tensor) => [tensor.name, tensor]));
  return signature.inputs.map((spec) => byName.get(spec.name) as Tensor);
}
