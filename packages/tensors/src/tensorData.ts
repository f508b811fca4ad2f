import { AppError } from '@inferq/core';
import type { TensorDatatype } from '@inferq/models';

/**
 * Terminology:
 * - tensor: a name, a datatype (the protocol's: FP32, INT64, BOOL, …), a shape and its elements
 *   in row-major order.
 * - batch axis: a model input's first dim when it is dynamic (-1); requests are stacked on it.
 *
 * Elements are held in the typed array of their datatype: BOOL as Uint8Array (0/1), FP16 as
 * Uint16Array (the half-float bits, as ONNX Runtime and the binary extension carry them), INT64 and
 * UINT64 as BigInt64Array / BigUint64Array.
 */
export type TensorData =
  | Uint8Array
  | Int8Array
  | Uint16Array
  | Int16Array
  | Uint32Array
  | Int32Array
  | BigUint64Array
  | BigInt64Array
  | Float32Array
  | Float64Array;

export interface Tensor {
  name: string;
  datatype: TensorDatatype;
  shape: number[];
  data: TensorData;
}

interface DatatypeInfo {
  bytes: number;
  /** ONNX Runtime's name for the element type. */
  ort: string;
  create(length: number): TensorData;
  /** Whether a JSON element is a valid value, and the value stored for it. */
  fromJson(value: unknown): number | bigint | undefined;
}

const integer = (min: number, max: number) => (value: unknown) =>
  typeof value === 'number' && Number.isInteger(value) && value >= min && value <= max ? value : undefined;
const bigInteger = (min: bigint, max: bigint) => (value: unknown) => {
  if (typeof value === 'number' && Number.isSafeInteger(value)) value = BigInt(value);
  else if (typeof value === 'string' && /^-?\d{1,20}$/.test(value)) value = BigInt(value);
  return typeof value === 'bigint' && value >= min && value <= max ? value : undefined;
};
const float = (value: unknown) =>
  typeof value === 'number' && !Number.isNaN(value)
    ? value
    : value === 'NaN'
      ? Number.NaN
      : value === 'inf'
        ? Infinity
        : value === '-inf'
          ? -Infinity
          : undefined;
const half = (value: unknown) => {
  const number = float(value);
  return number === undefined ? undefined : halfBits(number);
};

export const datatypes: Record<Exclude<TensorDatatype, 'BYTES'>, DatatypeInfo> = {
  BOOL: {
    bytes: 1,
    ort: 'bool',
    create: (n) => new Uint8Array(n),
    fromJson: (v) => (typeof v === 'boolean' ? Number(v) : v === 0 || v === 1 ? v : undefined),
  },
  UINT8: { bytes: 1, ort: 'uint8', create: (n) => new Uint8Array(n), fromJson: integer(0, 255) },
  UINT16: { bytes: 2, ort: 'uint16', create: (n) => new Uint16Array(n), fromJson: integer(0, 65_535) },
  UINT32: { bytes: 4, ort: 'uint32', create: (n) => new Uint32Array(n), fromJson: integer(0, 4_294_967_295) },
  UINT64: { bytes: 8, ort: 'uint64', create: (n) => new BigUint64Array(n), fromJson: bigInteger(0n, 2n ** 64n - 1n) },
  INT8: { bytes: 1, ort: 'int8', create: (n) => new Int8Array(n), fromJson: integer(-128, 127) },
  INT16: { bytes: 2, ort: 'int16', create: (n) => new Int16Array(n), fromJson: integer(-32_768, 32_767) },
  INT32: { bytes: 4, ort: 'int32', create: (n) => new Int32Array(n), fromJson: integer(-2_147_483_648, 2_147_483_647) },
  INT64: {
    bytes: 8,
    ort: 'int64',
    create: (n) => new BigInt64Array(n),
    fromJson: bigInteger(-(2n ** 63n), 2n ** 63n - 1n),
  },
  FP16: { bytes: 2, ort: 'float16', create: (n) => new Uint16Array(n), fromJson: half },
  FP32: { bytes: 4, ort: 'float32', create: (n) => new Float32Array(n), fromJson: float },
  FP64: { bytes: 8, ort: 'float64', create: (n) => new Float64Array(n), fromJson: float },
};

/** The datatypes tensors can be sent in; BYTES (strings) is not served. */
export type NumericDatatype = keyof typeof datatypes;

export function isNumericDatatype(datatype: string): datatype is NumericDatatype {
  return Object.hasOwn(datatypes, datatype);
}

function infoOf(datatype: TensorDatatype): DatatypeInfo {
  if (!isNumericDatatype(datatype))
    throw invalidTensor(`datatype ${datatype} is not served; send numeric or BOOL tensors`);
  return datatypes[datatype];
}

/** The ONNX Runtime element type of `datatype`, and back. */
export function ortTypeOf(datatype: TensorDatatype): string {
  return infoOf(datatype).ort;
}

export function datatypeOfOrt(type: string): NumericDatatype | null {
  for (const [name, info] of Object.entries(datatypes)) if (info.ort === type) return name as NumericDatatype;
  return null;
}

/** Bytes one element of `datatype` takes in the binary extension. */
export function elementBytes(datatype: TensorDatatype): number {
  return infoOf(datatype).bytes;
}

/** Elements a tensor of `shape` holds. */
export function elementCount(shape: readonly number[]): number {
  return shape.reduce((product, dim) => product * dim, 1);
}

export function invalidTensor(message: string, details?: Record<string, unknown>): AppError {
  return new AppError('INVALID_TENSOR', message, details === undefined ? {} : { details });
}

/**
 * The elements of a JSON tensor (`data`, flat in row-major order, or nested arrays, which are
 * flattened) as the typed array of `datatype`. Throws INVALID_TENSOR on a value of the wrong type
 * or range, or a count other than `count`.
 */
export function fromJsonData(name: string, datatype: TensorDatatype, data: unknown, count: number): TensorData {
  const info = infoOf(datatype);
  const flat: unknown[] = Array.isArray(data) ? (data as unknown[]).flat(Infinity) : [data];
  if (flat.length !== count)
    throw invalidTensor(`input "${name}" holds ${flat.length} elements, its shape needs ${count}`, {
      input: name,
      expected: count,
      actual: flat.length,
    });
  const out = info.create(count);
  for (let i = 0; i < count; i++) {
    const value = info.fromJson(flat[i]);
    if (value === undefined)
      throw invalidTensor(`input "${name}" element ${i} is not a ${datatype} value`, {
        input: name,
        index: i,
        datatype,
      });
    out[i] = value as never;
  }
  return out;
}

/** The elements as JSON values: numbers (INT64 beyond 2^53 loses precision, as in any JSON), booleans for BOOL. */
export function toJsonData(datatype: TensorDatatype, data: TensorData): Array<number | boolean> {
  if (datatype === 'BOOL') return Array.from(data as Uint8Array, (v) => v !== 0);
  if (datatype === 'FP16') return Array.from(data as Uint16Array, halfToNumber);
  if (data instanceof BigInt64Array || data instanceof BigUint64Array) return Array.from(data, (v) => Number(v));
  return Array.from(data as ArrayLike<number>);
}

/** Copies `bytes` (little-endian elements, as the binary extension sends them) into a typed array of `datatype`. */
export function fromBinaryData(name: string, datatype: TensorDatatype, bytes: Uint8Array, count: number): TensorData {
  const info = infoOf(datatype);
  if (bytes.byteLength !== count * info.bytes) {
    throw invalidTensor(
      `input "${name}" has ${bytes.byteLength} bytes of binary data, its shape needs ${count * info.bytes}`,
      { input: name, expected: count * info.bytes, actual: bytes.byteLength },
    );
  }
  const out = info.create(count);
  new Uint8Array(out.buffer, out.byteOffset, out.byteLength).set(bytes);
  if (datatype === 'BOOL')
    for (let i = 0; i < count; i++)
      if ((out[i] as number) > 1)
        throw invalidTensor(`input "${name}" element ${i} is not a BOOL value`, { input: name, index: i });
  return out;
}

/** The elements' bytes (a view, little-endian on the hosts we run on). */
export function toBinaryData(data: TensorData): Uint8Array {
  return new Uint8Array(data.buffer, data.byteOffset, data.byteLength);
}

/** The typed array of `datatype` holding JSON `values` (what the worker stored) again. */
export function fromStoredJson(datatype: TensorDatatype, values: ReadonlyArray<number | boolean>): TensorData {
  const info = infoOf(datatype);
  const out = info.create(values.length);
  for (let i = 0; i < values.length; i++) {
    const value = values[i];
    if (datatype === 'FP16') out[i] = halfBits(Number(value)) as never;
    else if (out instanceof BigInt64Array || out instanceof BigUint64Array)
      out[i] = BigInt(Math.trunc(Number(value))) as never;
    else out[i] = Number(value) as never;
  }
  return out;
}

// Node 24 has Float16Array; the ES2023 lib the workspace types against does not name it yet.
const Float16 = (
  globalThis as unknown as {
    Float16Array: new (source: ArrayBufferLike | ArrayLike<number>) => ArrayLike<number> & { buffer: ArrayBufferLike };
  }
).Float16Array;

/** The nearest half float's bits (round to nearest even, as Float16Array rounds). */
export function halfBits(value: number): number {
  return new Uint16Array(new Float16([value]).buffer)[0] as number;
}

export function halfToNumber(bits: number): number {
  return new Float16(Uint16Array.of(bits).buffer)[0] as number;
}
