import { Transform, type TransformCallback } from 'node:stream';

// Files must be UTF-8. Decoding anything else as UTF-8 "works": Latin-1's é becomes U+FFFD, so `rené` and
// `renè` silently turn into one user. The check passes the bytes through unchanged for csv-parse and fails
// the file, with where and why, at the first byte that is not UTF-8.

/** The file is not UTF-8 text: the whole file is rejected with this message as its reason. */
export class FileEncodingError extends Error {
  override name = 'FileEncodingError';
}

/** Formats recognised from their first bytes, so the reason names what the file is. */
const SIGNATURES: [bytes: number[], what: string][] = [
  [[0x1f, 0x8b], 'gzip-compressed; upload the decompressed CSV'],
  [[0x50, 0x4b, 0x03, 0x04], 'a ZIP archive (or an Excel workbook); upload the CSV itself'],
  [[0x25, 0x50, 0x44, 0x46], 'a PDF document'],
  [[0xff, 0xfe], 'UTF-16 (little-endian BOM); save it as UTF-8'],
  [[0xfe, 0xff], 'UTF-16 (big-endian BOM); save it as UTF-8'],
];
/** A NUL among the first bytes is binary data or UTF-16 without a BOM, never CSV text. */
const SNIFF_BYTES = 4096;

const hex = (byte: number | undefined): string =>
  `0x${(byte ?? 0).toString(16).toUpperCase().padStart(2, '0')}`;

/**
 * Byte offset of the first byte that does not belong to a well-formed UTF-8 sequence. Only run once the
 * decoder has failed: TextDecoder and Buffer.isUtf8 say whether, never where.
 */
export const firstInvalidUtf8 = (bytes: Uint8Array): number => {
  let at = 0;
  while (at < bytes.length) {
    const lead = bytes[at] ?? 0;
    const length =
      lead < 0x80
        ? 1
        : lead >= 0xc2 && lead <= 0xdf
          ? 2
          : lead >= 0xe0 && lead <= 0xef
            ? 3
            : lead >= 0xf0 && lead <= 0xf4
              ? 4
              : 0;
    if (length === 0) return at;
    for (let next = 1; next < length; next += 1) {
      const byte = bytes[at + next];
      if (byte === undefined) return at; // cut short by the end of the file
      const low = next === 1 && lead === 0xe0 ? 0xa0 : next === 1 && lead === 0xf0 ? 0x90 : 0x80;
      const high = next === 1 && lead === 0xed ? 0x9f : next === 1 && lead === 0xf4 ? 0x8f : 0xbf;
      if (byte < low || byte > high) return at;
    }
    at += length;
  }
  return bytes.length;
};

/** A multi-byte sequence cut by the chunk's end (it continues in the next chunk), or nothing. */
const incompleteTail = (bytes: Uint8Array): Uint8Array => {
  let lead = bytes.length - 1;
  while (lead > 0 && bytes.length - lead < 4 && ((bytes[lead] ?? 0) & 0xc0) === 0x80) lead -= 1;
  const first = bytes[lead] ?? 0;
  const length = first >= 0xf0 ? 4 : first >= 0xe0 ? 3 : first >= 0xc0 ? 2 : 1;
  return bytes.length - lead < length ? bytes.subarray(lead) : new Uint8Array(0);
};

const countLineFeeds = (bytes: Uint8Array, end = bytes.length): number => {
  let count = 0;
  for (let at = bytes.indexOf(0x0a); at !== -1 && at < end; at = bytes.indexOf(0x0a, at + 1)) count += 1;
  return count;
};

/** A pass-through stream that fails with FileEncodingError unless its bytes are UTF-8 text. */
export const utf8Only = (): Transform => {
  const decoder = new TextDecoder('utf-8', { fatal: true });
  let offset = 0;
  let lineFeeds = 0;
  // The previous chunk's unfinished sequence (no line feeds in it), so a sequence cut by a chunk boundary is
  // located in one buffer.
  let carry: Uint8Array = new Uint8Array(0);

  const encodingError = (bytes: Uint8Array, base: number): FileEncodingError => {
    const at = firstInvalidUtf8(bytes);
    const line = lineFeeds + countLineFeeds(bytes, at) + 1;
    return new FileEncodingError(
      `NotUtf8: byte ${hex(bytes[at])} at offset ${base + at} (line ${line}) is not UTF-8; save the file as UTF-8 (Latin-1 and Windows-1252 files are the usual cause)`,
    );
  };

  return new Transform({
    transform(chunk: Buffer, _encoding: BufferEncoding, done: TransformCallback) {
      if (offset === 0) {
        const sniffed = SIGNATURES.find(([bytes]) => bytes.every((byte, index) => chunk[index] === byte));
        if (sniffed !== undefined) {
          done(new FileEncodingError(`NotCsv: the file is ${sniffed[1]}`));
          return;
        }
        const nul = chunk.subarray(0, SNIFF_BYTES).indexOf(0);
        if (nul !== -1) {
          done(
            new FileEncodingError(
              `NotText: byte 0x00 at offset ${nul}: binary data or UTF-16 without a BOM; save the file as UTF-8 CSV`,
            ),
          );
          return;
        }
      }
      try {
        decoder.decode(chunk, { stream: true });
      } catch {
        const joined = Buffer.concat([carry, chunk]);
        done(encodingError(joined, offset - carry.length));
        return;
      }
      lineFeeds += countLineFeeds(chunk);
      offset += chunk.length;
      carry = incompleteTail(chunk);
      done(null, chunk);
    },
    flush(done: TransformCallback) {
      try {
        decoder.decode();
      } catch {
        done(encodingError(carry, offset - carry.length));
        return;
      }
      done();
    },
  });
};
