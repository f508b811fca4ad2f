export * from './blobStore.ts';
export * from './blobKeys.ts';
export * from './fileBlobStore.ts';
export * from './s3BlobStore.ts';
export * from './createBlobStore.ts';
