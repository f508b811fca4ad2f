/** What `submit` takes as an image: anything fetch can upload, in Node and in browsers. */
export type ImageInput = Blob | ArrayBuffer | ArrayBufferView | ReadableStream<Uint8Array> | AsyncIterable<Uint8Array>;

/** Turns an image input into a Blob for a multipart body (File and Blob pass through untouched). */
export async function toBlob(image: ImageInput): Promise<Blob> {
  if (image instanceof Blob) return image;
  if (image instanceof ArrayBuffer) return new Blob([image]);
  if (ArrayBuffer.isView(image)) {
    // Copied: a Node Buffer may be a view into a larger shared pool.
    return new Blob([new Uint8Array(image.buffer, image.byteOffset, image.byteLength).slice()]);
  }
  if (typeof ReadableStream !== 'undefined' && image instanceof ReadableStream) return new Response(image).blob();
  if (image && typeof (image as AsyncIterable<Uint8Array>)[Symbol.asyncIterator] === 'function') {
    const chunks: Uint8Array[] = [];
    for await (const chunk of image as AsyncIterable<Uint8Array>) chunks.push(chunk.slice());
    return new Blob(chunks as BlobPart[]);
  }
  throw new TypeError(
    'image must be a Blob, File, ArrayBuffer, typed array (Buffer, Uint8Array), ReadableStream or async iterable of bytes',
  );
}
