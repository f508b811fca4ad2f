export * from './imageLimits.ts';
export * from './imageValidator.ts';
export * from './sniffImageFormat.ts';
export * from './configureSharp.ts';
export * from './normalizeImage.ts';
export * from './modelInput.ts';
export * from './imageEnd.ts';
export * from './imageMetadata.ts';
export * from './thumbnail.ts';
export {
  jpegDecoderName,
  jpegFastPath,
  useJpegDecoder,
  type DecodedRgb,
  type JpegDecoderChoice,
  type JpegFastPathOptions,
} from './turboJpeg.ts';
