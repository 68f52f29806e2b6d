import { Readable } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { type CsvRecord, parseFields, readCsvRecords } from '../../../functions/validate-data/records.ts';

const readAll = async (
  chunks: (string | Uint8Array)[],
  maxRecordChars = 1024 * 1024,
): Promise<CsvRecord[]> => {
  const records: CsvRecord[] = [];
  const source = Readable.from(
    chunks.map((chunk) => (typeof chunk === 'string' ? Buffer.from(chunk) : chunk)),
  );
  for await (const batch of readCsvRecords(source, { maxRecordChars })) records.push(...batch);
  return records;
};

const fieldsOf = (records: CsvRecord[]) => records.map((record) => (record.ok ? record.fields : null));

describe('parseFields', () => {
  it('splits an unquoted record on commas, keeping empty fields', () => {
    expect(parseFields('a,,b,')).toEqual({ ok: true, fields: ['a', '', 'b', ''] });
  });

  it('unquotes quoted fields with embedded commas, doubled quotes and line breaks', () => {
    expect(parseFields('"a,b","say ""hi""","x\r\ny",""')).toEqual({
      ok: true,
      fields: ['a,b', 'say "hi"', 'x\r\ny', ''],
    });
  });

  it('rejects a character after a closing quote', () => {
    expect(parseFields('u1,"cl"ick,2')).toEqual({
      ok: false,
      reason: 'unexpected character after the closing quote of field 2',
    });
  });

  it('rejects a quote inside an unquoted field', () => {
    expect(parseFields('u1,x"y,2')).toEqual({ ok: false, reason: 'quote inside unquoted field 2' });
  });

  it('rejects a quoted field that is not closed', () => {
    expect(parseFields('u1,"open,2')).toEqual({ ok: false, reason: 'quoted field 2 is not closed' });
  });
});

describe('readCsvRecords', () => {
  it('reads \\n, \\r\\n and \\r line endings, mixed in one file', async () => {
    const records = await readAll(['a,b\nc,d\r\ne,f\rg,h']);

    expect(fieldsOf(records)).toEqual([
      ['a', 'b'],
      ['c', 'd'],
      ['e', 'f'],
      ['g', 'h'],
    ]);
  });

  it('numbers records by the physical line they start on, counting blank lines', async () => {
    const records = await readAll(['h1,h2\n\na,"multi\nline"\r\n\r\nb,c\n']);

    expect(records.map((record) => record.line)).toEqual([1, 3, 6]);
  });

  it('keeps a line break inside quotes as part of the value', async () => {
    const records = await readAll(['a,"x\r\ny"\n']);

    expect(fieldsOf(records)).toEqual([['a', 'x\r\ny']]);
  });

  it('keeps a blank line inside quotes as part of the value', async () => {
    const records = await readAll(['a,"x\n\ny"\nb,c\n']);

    expect(fieldsOf(records)).toEqual([
      ['a', 'x\n\ny'],
      ['b', 'c'],
    ]);
  });

  it('keeps a \\r\\n split across two chunks as one line break', async () => {
    const records = await readAll(['a,"x\r', '\ny"\r', '\nb,c\n']);

    expect(fieldsOf(records)).toEqual([
      ['a', 'x\r\ny'],
      ['b', 'c'],
    ]);
    expect(records.map((record) => record.line)).toEqual([1, 3]);
  });

  it('decodes a multi-byte UTF-8 character split across two chunks', async () => {
    const bytes = Buffer.from('naïve,été\n');
    const records = await readAll([bytes.subarray(0, 3), bytes.subarray(3, 11), bytes.subarray(11)]);

    expect(fieldsOf(records)).toEqual([['naïve', 'été']]);
  });

  it('drops a UTF-8 byte order mark', async () => {
    const records = await readAll([Buffer.from([0xef, 0xbb, 0xbf]), 'user_id,event_type\n']);

    expect(fieldsOf(records)).toEqual([['user_id', 'event_type']]);
  });

  it('rejects a malformed record alone and reads the next line as the next record', async () => {
    const records = await readAll(['u1,"cl"ick,1\nu2,b,2\n']);

    expect(records).toEqual([
      {
        ok: false,
        reason: 'unexpected character after the closing quote of field 2',
        line: 1,
        raw: 'u1,"cl"ick,1',
      },
      { ok: true, fields: ['u2', 'b', '2'], line: 2, raw: 'u2,b,2' },
    ]);
  });

  it('rejects only the line of a stray opening quote, not the rows after it', async () => {
    const records = await readAll(['u1,x"y,1\nu2,b,2\nu3,c,3\n']);

    expect(records.map((record) => [record.ok, record.line])).toEqual([
      [false, 1],
      [true, 2],
      [true, 3],
    ]);
  });

  it('rejects only the first line of a quote left open until the end of the file', async () => {
    const records = await readAll(['u1,"open,1\nu2,b,2\nu3,c,3\n']);

    expect(records.map((record) => [record.ok, record.line, record.raw])).toEqual([
      [false, 1, 'u1,"open,1'],
      [true, 2, 'u2,b,2'],
      [true, 3, 'u3,c,3'],
    ]);
  });

  it('gives up on an open quote after maxRecordChars and reads the lines after it again', async () => {
    const rows = Array.from({ length: 50 }, (_, i) => `u${i},e,${i}\n`).join('');
    const records = await readAll([`u,"open,1\n${rows}`], 100);

    expect(records[0]).toMatchObject({ ok: false, line: 1 });
    expect(records.slice(1).every((record) => record.ok)).toBe(true);
    expect(records).toHaveLength(51);
  });

  it('rejects a line longer than maxRecordChars with a short sample, without buffering it', async () => {
    const records = await readAll(['a,b\n', 'x'.repeat(5_000), 'y'.repeat(5_000), '\nc,d\n'], 1_000);

    expect(records[1]).toEqual({
      ok: false,
      reason: 'line longer than 1000 characters',
      line: 2,
      raw: 'x'.repeat(200),
    });
    expect(fieldsOf(records)).toEqual([['a', 'b'], null, ['c', 'd']]);
  });

  it('reads a last line without a line break', async () => {
    const records = await readAll(['a,b\nc,d']);

    expect(fieldsOf(records)).toEqual([
      ['a', 'b'],
      ['c', 'd'],
    ]);
  });

  it('reads nothing from an empty stream', async () => {
    expect(await readAll([])).toEqual([]);
  });
});
