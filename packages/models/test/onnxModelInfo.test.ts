import { describe, expect, it } from 'vitest';
import { onnxModelInfo } from '../src/index.ts';

// A minimal ModelProto written by hand: ir_version 8, producer_name "t", graph { name "g" },
// opset_import { domain "", version 17 }.
const header = [0x08, 0x08, 0x12, 0x01, 0x74];
const graph = [0x3a, 0x03, 0x12, 0x01, 0x67];
const opset = [0x42, 0x04, 0x0a, 0x00, 0x10, 0x11];

describe('onnxModelInfo', () => {
  it('reads the IR version and the default-domain opset of an ONNX ModelProto', () => {
    expect(onnxModelInfo(Uint8Array.from([...header, ...graph, ...opset]))).toEqual({ irVersion: 8, opsetVersion: 17 });
  });

  it.each([
    ['a JSON document', Buffer.from('{"status":"ok"}')],
    ['an HTML page', Buffer.from('<html><body>metrics</body></html>')],
    ['a model without an opset_import', Uint8Array.from([...header, ...graph])],
    ['a model without a graph', Uint8Array.from([...header, ...opset])],
    ['a model cut short', Uint8Array.from([...header, ...graph, ...opset]).subarray(0, 12)],
    ['no bytes', new Uint8Array()],
  ])('refuses %s with VALIDATION_FAILED not_a_model', (_case, bytes) => {
    let caught: unknown;
    try {
      onnxModelInfo(bytes);
    } catch (error) {
      caught = error;
    }
    expect(caught).toMatchObject({ code: 'VALIDATION_FAILED', details: { reason: 'not_a_model' } });
  });
});
