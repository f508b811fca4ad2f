import { imageToInput, preparedToInput } from '@inferq/images';
import { imageInputOf, type ModelInput, type ModelManifest } from '@inferq/models';
import type { StoredPixels } from '@inferq/queue';
import { decodeTensorPayload, type InferRequest } from '@inferq/tensors';
import { PermanentFailure } from './attempt.ts';

/** The image input an image model takes; MODEL_KIND_MISMATCH for a model that takes tensors. */
export function imageInputFor(manifest: ModelManifest): ModelInput {
  try {
    return imageInputOf(manifest);
  } catch (error) {
    throw new PermanentFailure('MODEL_KIND_MISMATCH', 'The model takes tensors; this job holds an image.', {
      cause: error,
    });
  }
}

/** A preprocessed image input, and which path made it (`inferq_worker_preprocessed_total{source}`). */
export interface PreprocessedImage {
  input: Float32Array;
  source: 'prepared' | 'decoded';
}

/**
 * Step 3, preprocess an image job: the pixels the API made while validating, when they are for
 * this model version's input spec, only scaled into the input tensor; otherwise (another spec
 * since a model swap, or none) the upload, read by `bytes`, is decoded with the same
 * `toModelPixels`, so both paths give the same values. PREPROCESSING_FAILED when it cannot be.
 */
export async function preprocessImage(
  imageInput: ModelInput,
  pixels: StoredPixels | undefined,
  bytes: () => Promise<Buffer>,
  onSource?: (source: PreprocessedImage['source']) => void,
): Promise<PreprocessedImage> {
  const prepared = pixels ? preparedToInput(pixels, imageInput) : undefined;
  // Counted once the path is known, before the upload is read (which may find it gone).
  onSource?.(prepared ? 'prepared' : 'decoded');
  if (prepared) return { input: prepared, source: 'prepared' };
  return { input: await decodeImage(await bytes(), imageInput), source: 'decoded' };
}

/** Decodes an upload into model input; PREPROCESSING_FAILED when it cannot be. */
export async function decodeImage(bytes: Buffer, imageInput: ModelInput): Promise<Float32Array> {
  try {
    return await imageToInput(bytes, imageInput);
  } catch (error) {
    throw new PermanentFailure('PREPROCESSING_FAILED', 'The image could not be turned into model input.', {
      cause: error,
    });
  }
}

/**
 * Step 3 for a tensor job: its stored request (the tensors the API checked against the
 * manifest). MODEL_KIND_MISMATCH when the stored input is not one (an image sent to a tensor model).
 */
export function preprocessTensors(bytes: Buffer): InferRequest {
  try {
    return decodeTensorPayload(bytes);
  } catch (error) {
    throw new PermanentFailure('MODEL_KIND_MISMATCH', 'The model takes tensors; this job holds an image.', {
      cause: error,
    });
  }
}
