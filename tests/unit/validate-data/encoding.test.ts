import { Readable } from 'node:stream';
import { text } from 'node:stream/consumers';
import { describe, expect, it } from 'vitest';
import { FileEncodingError, firstInvalidUtf8, utf8Only } from '../../../functions/validate-data/encoding.ts';

/** Pipes the parts through the check as separate chunks; resolves with the text or rejects with its error. */
const check = (...parts: (string | number[])[]) =>
  text(Readable.from(parts.map((part) => Buffer.from(part as string))).pipe(utf8Only()));

describe('firstInvalidUtf8', () => {
  it.each([
    ['valid text', Buffer.from('héllo 😀'), 11],
    ['a Latin-1 é', Buffer.from([0x72, 0x65, 0x6e, 0xe9]), 3],
    ['a lone continuation byte', Buffer.from([0x61, 0x80]), 1],
    ['an overlong encoding of /', Buffer.from([0xc0, 0xaf]), 0],
    ['a UTF-16 surrogate encoded as UTF-8', Buffer.from([0x61, 0xed, 0xa0, 0x80]), 1],
    ['a code point beyond U+10FFFF', Buffer.from([0xf4, 0x90, 0x80, 0x80]), 0],
    ['a sequence cut by the end', Buffer.from([0x61, 0xe2, 0x82]), 1],
  ])('finds the first bad byte in %s', (_case, bytes, at) => {
    expect(firstInvalidUtf8(bytes)).toBe(at);
  });
});

describe('utf8Only', () => {
  it('passes UTF-8 through unchanged, a character split across chunks included', async () => {
    const euro = Buffer.from('€');
    await expect(check('a,b\nx,', [...euro.subarray(0, 1)], [...euro.subarray(1)], '\n')).resolves.toBe(
      'a,b\nx,€\n',
    );
  });

  it('rejects Latin-1 with the offset, the byte and the line', async () => {
    await expect(check('user_id,event_type\nren', [0xe9], ',click\n')).rejects.toThrow(
      new FileEncodingError(
        'NotUtf8: byte 0xE9 at offset 22 (line 2) is not UTF-8; save the file as UTF-8 (Latin-1 and Windows-1252 files are the usual cause)',
      ),
    );
  });

  it('locates a bad sequence that starts at the end of one chunk', async () => {
    await expect(check('ab\ncd', [0xe2, 0x82], [0x41])).rejects.toThrow(
      /^NotUtf8: byte 0xE2 at offset 5 \(line 2\)/,
    );
  });

  it('rejects a file that ends inside a multi-byte sequence', async () => {
    await expect(check('ab\n', [0xf0, 0x9f])).rejects.toThrow(/^NotUtf8: byte 0xF0 at offset 3 \(line 2\)/);
  });

  it.each([
    ['gzip', [0x1f, 0x8b, 0x08, 0x00], 'NotCsv: the file is gzip-compressed; upload the decompressed CSV'],
    [
      'ZIP',
      [0x50, 0x4b, 0x03, 0x04],
      'NotCsv: the file is a ZIP archive (or an Excel workbook); upload the CSV itself',
    ],
    ['UTF-16', [0xff, 0xfe, 0x75, 0x00], 'NotCsv: the file is UTF-16 (little-endian BOM); save it as UTF-8'],
  ])('names a %s file from its first bytes', async (_case, bytes, reason) => {
    await expect(check(bytes)).rejects.toThrow(new FileEncodingError(reason));
  });

  it('rejects NUL bytes near the start as binary data', async () => {
    await expect(check([0x75, 0x00, 0x73, 0x00])).rejects.toThrow(/^NotText: byte 0x00 at offset 1: /);
  });
});
