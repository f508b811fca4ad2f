import { tensorDatatypes, type TensorDatatype } from '@inferq/models';
import type { InferRequest, RequestedOutput } from './inferenceRequest.ts';
import { elementCount, fromBinaryData, invalidTensor, toBinaryData, type Tensor } from './tensorData.ts';

/**
 * A tensor job's stored input: what the input store keeps for it, as it keeps an image's bytes.
 * `IQT1`, the header's length (uint32 LE), the header (JSON: the request id, each input's name,
 * datatype and shape, the outputs asked for), then each input's elements, little-endian, in order.
 */
const magic = Buffer.from('IQT1');

interface PayloadHeader {
  id?: string;
  inputs: Array<{ name: string; datatype: TensorDatatype; shape: number[] }>;
  outputs: RequestedOutput[] | null;
  binaryOutputs: boolean;
}

/** Format name stored with a tensor job's input (the job row's `inputFormat`). */
export const tensorInputFormat = 'tensor';

export function encodeTensorPayload(request: InferRequest): Buffer {
  const header: PayloadHeader = {
    ...(request.id !== undefined ? { id: request.id } : {}),
    inputs: request.inputs.map(({ name, datatype, shape }) => ({ name, datatype, shape })),
    outputs: request.outputs,
    binaryOutputs: request.binaryOutputs,
  };
  const json = Buffer.from(JSON.stringify(header));
  const length = Buffer.alloc(4);
  length.writeUInt32LE(json.byteLength);
  return Buffer.concat([magic, length, json, ...request.inputs.map((tensor) => toBinaryData(tensor.data))]);
}

/** Whether stored input bytes are a tensor payload (an image never starts with `IQT1`). */
export function isTensorPayload(bytes: Uint8Array): boolean {
  return bytes.byteLength >= 8 && Buffer.from(bytes.buffer, bytes.byteOffset, 4).equals(magic);
}

/** The request a stored payload holds. Throws INVALID_TENSOR when the bytes are not one. */
export function decodeTensorPayload(bytes: Uint8Array): InferRequest {
  if (!isTensorPayload(bytes)) throw invalidTensor('the stored input is not a tensor payload');
  const buffer = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const headerLength = buffer.readUInt32LE(4);
  let header: PayloadHeader;
  try {
    header = JSON.parse(buffer.subarray(8, 8 + headerLength).toString('utf8')) as PayloadHeader;
  } catch {
    throw invalidTensor('the stored tensor payload has no valid header');
  }
  let offset = 8 + headerLength;
  const inputs: Tensor[] = header.inputs.map(({ name, datatype, shape }) => {
    if (!tensorDatatypes.includes(datatype)) throw invalidTensor(`the stored input "${name}" has datatype ${datatype}`);
    const count = elementCount(shape);
    const tensor: Tensor = {
      name,
      datatype,
      shape,
      data: fromBinaryData(name, datatype, sliceOf(buffer, offset, name, datatype, count), count),
    };
    offset += tensor.data.byteLength;
    return tensor;
  });
  return {
    ...(header.id !== undefined ? { id: header.id } : {}),
    inputs,
    outputs: header.outputs,
    binaryOutputs: header.binaryOutputs,
  };
}

function sliceOf(buffer: Buffer, offset: number, name: string, datatype: TensorDatatype, count: number): Uint8Array {
  const bytes =
    count *
    (
      {
        BOOL: 1,
        UINT8: 1,
        INT8: 1,
        UINT16: 2,
        INT16: 2,
        FP16: 2,
        UINT32: 4,
        INT32: 4,
        FP32: 4,
        UINT64: 8,
        INT64: 8,
        FP64: 8,
        BYTES: 0,
      } as const
    )[datatype];
  if (offset + bytes > buffer.byteLength) throw invalidTensor(`the stored input "${name}" is cut short`);
  return buffer.subarray(offset, offset + bytes);
}
