export { type CompressionPlan, type CompressionRequest, decideCompression } from './decide.js';
export { bodySink, type CompressedAnswer, compressAnswer } from './exchange.js';
export { compressedHead } from './head.js';
export { CODINGS, type Coding, negotiateCoding, parseAcceptEncoding } from './negotiate.js';
export { brotliWindow, CompressedBody, type CompressionOptions, openCompressors } from './stream.js';
