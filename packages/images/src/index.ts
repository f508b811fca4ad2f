export * from './imageLimits.ts';
export * from './imageValidator.ts';
export * from './sniffImageFormat.ts';
export * from './configureSharp.ts';
export * from './normalizeImage.ts';
export * from './modelPixels.ts';
export * from './imageEnd.ts';
export * from './thumbnail.ts';
