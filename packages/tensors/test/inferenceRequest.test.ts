import { describe, expect, it } from 'vitest';
import { AppError } from '@inferq/core';
import type { TensorSpec } from '@inferq/models';
import {
  batchKey,
  batchRows,
  decodeTensorPayload,
  encodeInferResponse,
  encodeTensorPayload,
  parseInferRequest,
  splitInferBody,
  splitOnBatchAxis,
  stackOnBatchAxis,
  toJsonData,
  type Tensor,
} from '../src/index.ts';

const signature: { inputs: TensorSpec[]; outputs: TensorSpec[] } = {
  inputs: [
    { name: 'ids', datatype: 'INT64', shape: [-1, -1] },
    { name: 'mask', datatype: 'BOOL', shape: [-1, -1] },
  ],
  outputs: [{ name: 'logits', datatype: 'FP32', shape: [-1, 2] }],
};

function codeOf(run: () => unknown): string | undefined {
  try {
    run();
    return undefined;
  } catch (error) {
    return error instanceof AppError ? error.code : 'not an AppError';
  }
}

describe('parseInferRequest', () => {
  it('takes JSON tensors, nested or flat, and INT64 ids as numbers or strings', () => {
    const request = parseInferRequest(
      {
        id: 'r',
        inputs: [
          { name: 'mask', shape: [1, 2], datatype: 'BOOL', data: [[true, false]] },
          { name: 'ids', shape: [1, 2], datatype: 'INT64', data: [7, '9007199254740993'] },
        ],
        outputs: [{ name: 'logits', parameters: { binary_data: true } }],
      },
      new Uint8Array(),
      signature,
    );
    expect(request.inputs.map((t) => t.name)).toEqual(['ids', 'mask']);
    expect(Array.from(request.inputs[0]?.data as BigInt64Array)).toEqual([7n, 9007199254740993n]);
    expect(toJsonData('BOOL', request.inputs[1]?.data as Uint8Array)).toEqual([true, false]);
    expect(request.outputs).toEqual([{ name: 'logits', binary: true }]);
  });

  it('takes binary tensors after the JSON header', () => {
    const header = Buffer.from(
      JSON.stringify({
        inputs: [
          { name: 'ids', shape: [1, 2], datatype: 'INT64', parameters: { binary_data_size: 16 } },
          { name: 'mask', shape: [1, 2], datatype: 'BOOL', parameters: { binary_data_size: 2 } },
        ],
      }),
    );
    const ids = Buffer.alloc(16);
    ids.writeBigInt64LE(3n, 0);
    ids.writeBigInt64LE(-4n, 8);
    const { header: json, binary } = splitInferBody(
      Buffer.concat([header, ids, Buffer.from([1, 0])]),
      header.byteLength,
    );
    const request = parseInferRequest(json, binary, signature);
    expect(Array.from(request.inputs[0]?.data as BigInt64Array)).toEqual([3n, -4n]);
  });

  it.each([
    ['an unknown input', { inputs: [{ name: 'x', shape: [1], datatype: 'FP32', data: [1] }] }],
    ['a missing input', { inputs: [{ name: 'ids', shape: [1, 1], datatype: 'INT64', data: [1] }] }],
    [
      'a wrong datatype',
      {
        inputs: [
          { name: 'ids', shape: [1, 1], datatype: 'INT32', data: [1] },
          { name: 'mask', shape: [1, 1], datatype: 'BOOL', data: [true] },
        ],
      },
    ],
    [
      'a wrong rank',
      {
        inputs: [
          { name: 'ids', shape: [1], datatype: 'INT64', data: [1] },
          { name: 'mask', shape: [1, 1], datatype: 'BOOL', data: [true] },
        ],
      },
    ],
    [
      'too few elements',
      {
        inputs: [
          { name: 'ids', shape: [1, 2], datatype: 'INT64', data: [1] },
          { name: 'mask', shape: [1, 2], datatype: 'BOOL', data: [true, true] },
        ],
      },
    ],
    [
      'a value of another type',
      {
        inputs: [
          { name: 'ids', shape: [1, 1], datatype: 'INT64', data: [1.5] },
          { name: 'mask', shape: [1, 1], datatype: 'BOOL', data: [true] },
        ],
      },
    ],
    [
      'batch axes that differ',
      {
        inputs: [
          { name: 'ids', shape: [2, 1], datatype: 'INT64', data: [1, 2] },
          { name: 'mask', shape: [1, 1], datatype: 'BOOL', data: [true] },
        ],
      },
    ],
    [
      'an unknown output',
      {
        inputs: [
          { name: 'ids', shape: [1, 1], datatype: 'INT64', data: [1] },
          { name: 'mask', shape: [1, 1], datatype: 'BOOL', data: [true] },
        ],
        outputs: [{ name: 'nope' }],
      },
    ],
    ['no inputs', { inputs: [] }],
  ])('refuses %s with INVALID_TENSOR', (_case, body) => {
    expect(codeOf(() => parseInferRequest(body, new Uint8Array(), signature))).toBe('INVALID_TENSOR');
  });

  it('refuses binary data that does not add up', () => {
    const body = {
      inputs: [
        { name: 'ids', shape: [1, 1], datatype: 'INT64', parameters: { binary_data_size: 8 } },
        { name: 'mask', shape: [1, 1], datatype: 'BOOL', data: [true] },
      ],
    };
    expect(codeOf(() => parseInferRequest(body, new Uint8Array(4), signature))).toBe('INVALID_TENSOR');
    expect(codeOf(() => parseInferRequest(body, new Uint8Array(12), signature))).toBe('INVALID_TENSOR');
    expect(codeOf(() => splitInferBody(Buffer.from('{}'), 10))).toBe('INVALID_TENSOR');
  });
});

describe('the stored payload, batching and the response', () => {
  const fp32 = (rows: number, start: number): Tensor[] => [
    {
      name: 'x',
      datatype: 'FP32',
      shape: [rows, 2],
      data: Float32Array.from({ length: rows * 2 }, (_, i) => start + i),
    },
  ];

  it('stores a request and reads it back', () => {
    const request = { id: 'a', inputs: fp32(2, 1), outputs: [{ name: 'y', binary: false }], binaryOutputs: true };
    const back = decodeTensorPayload(encodeTensorPayload(request));
    expect(back).toMatchObject({ id: 'a', outputs: [{ name: 'y', binary: false }], binaryOutputs: true });
    expect(Array.from(back.inputs[0]?.data as Float32Array)).toEqual([1, 2, 3, 4]);
  });

  it('stacks requests on the batch axis and splits outputs back by rows', () => {
    const specs: TensorSpec[] = [{ name: 'x', datatype: 'FP32', shape: [-1, 2] }];
    expect(batchRows(fp32(3, 0), specs)).toBe(3);
    expect(batchRows(fp32(3, 0), [{ name: 'x', datatype: 'FP32', shape: [3, 2] }])).toBeNull();
    expect(batchKey(fp32(1, 0))).toBe(batchKey(fp32(5, 0)));
    const [stacked] = stackOnBatchAxis([fp32(1, 0), fp32(2, 10)]);
    expect(stacked?.shape).toEqual([3, 2]);
    const parts = splitOnBatchAxis(stacked as Tensor, [1, 2]);
    expect(parts?.map((part) => Array.from(part.data as Float32Array))).toEqual([
      [0, 1],
      [10, 11, 12, 13],
    ]);
    expect(splitOnBatchAxis({ name: 'y', datatype: 'FP32', shape: [2], data: new Float32Array(2) }, [1, 2])).toBeNull();
  });

  it('answers binary outputs after the JSON header', () => {
    const encoded = encodeInferResponse(
      { modelName: 'm', modelVersion: '1' },
      [
        { name: 'y', datatype: 'FP32', shape: [1, 2], data: [1.5, -2] },
        { name: 'z', datatype: 'BOOL', shape: [1], data: [true] },
      ],
      [
        { name: 'y', binary: true },
        { name: 'z', binary: false },
      ],
      false,
    );
    expect(encoded.contentType).toBe('application/octet-stream');
    const header = JSON.parse(encoded.body.subarray(0, encoded.headerLength).toString('utf8'));
    expect(header.outputs).toEqual([
      { name: 'y', datatype: 'FP32', shape: [1, 2], parameters: { binary_data_size: 8 } },
      { name: 'z', datatype: 'BOOL', shape: [1], data: [true] },
    ]);
    const binary = encoded.body.subarray(encoded.headerLength);
    expect([binary.readFloatLE(0), binary.readFloatLE(4)]).toEqual([1.5, -2]);
  });
});
