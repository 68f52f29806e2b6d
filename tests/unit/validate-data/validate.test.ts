import { Readable } from 'node:stream';
import { parse } from 'csv-parse/sync';
import { describe, expect, it } from 'vitest';
import type { StagedRow } from '../../../functions/shared/model.ts';
import {
  REJECTS_HEADER,
  type ValidateOptions,
  type ValidateSinks,
  validateCsv,
} from '../../../functions/validate-data/validate.ts';

const EVENT_TIME = '2026-01-15T09:30:00.000Z';
const HEADER = 'user_id,event_type,value,timestamp';

const options = (overrides: Partial<ValidateOptions> = {}): ValidateOptions => ({
  fileId: 'file-1',
  defaultTimestamp: EVENT_TIME,
  chunkRows: 1_000,
  maxChunks: 1_000,
  maxRejectRatio: 0.5,
  rejectsKey: 'rejected/a.csv.file-1.rejects.csv',
  ...overrides,
});

/** Sinks that keep everything in memory: staged chunks by index and the rejects file's text; reopen re-reads `content`. */
const memorySinks = (content: string | Buffer | (string | Buffer)[] = '') => {
  const chunks = new Map<number, string>();
  const rejects = { text: '', opened: 0, closed: 0 };
  const sinks: ValidateSinks = {
    stageChunk: async (index, body) => {
      chunks.set(index, body);
    },
    openRejects: () => {
      rejects.opened += 1;
      return {
        write: async (text) => {
          rejects.text += text;
        },
        close: async () => {
          rejects.closed += 1;
        },
      };
    },
    reopen: async () => streamOf(content),
  };
  const stagedRows = (): StagedRow[] =>
    [...chunks.entries()]
      .sort(([a], [b]) => a - b)
      .flatMap(([, body]) => body.trimEnd().split('\n'))
      .map((line) => JSON.parse(line) as StagedRow);
  const rejectRows = () => parse(rejects.text, { columns: true }) as Record<string, string>[];
  return { sinks, chunks, rejects, stagedRows, rejectRows };
};

/** A byte stream like an S3 body; an array is delivered as separate chunks, split wherever the test says. */
const streamOf = (content: string | Buffer | (string | Buffer)[]) =>
  Readable.from((Array.isArray(content) ? content : [content]).map((part) => Buffer.from(part)));

const validate = async (
  content: string | Buffer | (string | Buffer)[],
  overrides: Partial<ValidateOptions> = {},
) => {
  const memory = memorySinks(content);
  const validation = await validateCsv(streamOf(content), options(overrides), memory.sinks);
  return { validation, ...memory };
};

const rowsOf = (count: number, from = 1) =>
  Array.from({ length: count }, (_, i) => `u${from + i},a,${from + i},\n`).join('');

const BOM = Buffer.from([0xef, 0xbb, 0xbf]);
/** csv-parse's max_record_size as validate.ts sets it. */
const MAX_RECORD_CHARS = 1_048_576;

describe('validateCsv', () => {
  describe('reading CSV', () => {
    it('stages every valid row as NDJSON with row number, user, type, value and timestamp', async () => {
      const { validation, stagedRows } = await validate(
        `${HEADER}\nu1,click,2.5,2026-01-15T10:00:00Z\nu2,view,,\n`,
      );

      expect(validation).toMatchObject({ valid: true, totalRows: 2, validRows: 2, rejectedRows: 0 });
      expect(stagedRows()).toEqual([
        { r: 1, u: 'u1', t: 'click', v: 2.5, ts: '2026-01-15T10:00:00.000Z' },
        { r: 2, u: 'u2', t: 'view', v: 0, ts: EVENT_TIME },
      ]);
    });

    it('reads quoted fields with embedded commas, doubled quotes and line breaks', async () => {
      const { stagedRows } = await validate(`${HEADER}\n"u,1","say ""hi""\nagain",1,\n"u2",x,2,\n`);

      expect(stagedRows().map(({ r, u, t }) => ({ r, u, t }))).toEqual([
        { r: 1, u: 'u,1', t: 'say "hi"\nagain' },
        { r: 2, u: 'u2', t: 'x' },
      ]);
    });

    it('keeps a blank line inside quotes as part of the value', async () => {
      const { stagedRows } = await validate(`${HEADER}\nu1,"a\n\nb",1,\nu2,c,2,\n`);

      expect(stagedRows().map(({ r, t }) => [r, t])).toEqual([
        [1, 'a\n\nb'],
        [2, 'c'],
      ]);
    });

    it('reads a CRLF file like an LF file', async () => {
      const lf = await validate(`${HEADER}\nu1,a,1,\nu2,b,2,\n`);
      const crlf = await validate(`${HEADER}\r\nu1,a,1,\r\nu2,b,2,\r\n`);

      expect(crlf.validation).toEqual(lf.validation);
      expect(crlf.stagedRows()).toEqual(lf.stagedRows());
    });

    it('reads a file that mixes \\n, \\r\\n and \\r line endings', async () => {
      const { validation, stagedRows } = await validate(`${HEADER}\r\nu1,a,1,\nu2,b,2,\ru3,c,3,\r\n`);

      expect(validation).toMatchObject({ valid: true, validRows: 3 });
      expect(stagedRows().map((row) => row.u)).toEqual(['u1', 'u2', 'u3']);
    });

    it('keeps a \\r\\n inside quotes as part of the value', async () => {
      const { stagedRows } = await validate(`${HEADER}\r\nu1,"x\r\ny",1,\r\n`);

      expect(stagedRows().map((row) => row.t)).toEqual(['x\r\ny']);
    });

    it('reads a header that starts with a UTF-8 byte order mark', async () => {
      const { validation } = await validate(Buffer.concat([BOM, Buffer.from(`${HEADER}\nu1,a,1,\n`)]));

      expect(validation).toMatchObject({ valid: true, validRows: 1 });
    });

    it('reads a byte order mark split across chunks', async () => {
      const { validation } = await validate([BOM.subarray(0, 1), BOM.subarray(1), `${HEADER}\nu1,a,1,\n`]);

      expect(validation).toMatchObject({ valid: true, validRows: 1 });
    });

    it('decodes a multi-byte UTF-8 character split across chunks', async () => {
      const bytes = Buffer.from(`${HEADER}\nu1,été,1,\n`);
      const cut = bytes.indexOf(Buffer.from('é')) + 1;

      const { stagedRows } = await validate([bytes.subarray(0, cut), bytes.subarray(cut)]);

      expect(stagedRows().map((row) => row.t)).toEqual(['été']);
    });

    it('reads a \\r\\n split across chunks as one line break', async () => {
      const { stagedRows, rejectRows } = await validate(
        [`${HEADER}\r`, '\nu1,"x\r', '\ny",1,\r', '\nu2,,2,\r\n'],
        { maxRejectRatio: 1 },
      );

      expect(stagedRows().map((row) => row.t)).toEqual(['x\r\ny']);
      expect(rejectRows().map((row) => row.line)).toEqual(['4']);
    });

    it('skips blank lines without counting them as rows', async () => {
      const { validation, stagedRows } = await validate(`${HEADER}\n\nu1,a,1,\n\n\nu2,b,2,\n`);

      expect(validation).toMatchObject({ totalRows: 2, validRows: 2 });
      expect(stagedRows().map((row) => row.r)).toEqual([1, 2]);
    });

    it('reads a last row that has no line break', async () => {
      const { stagedRows } = await validate(`${HEADER}\nu1,a,1,\nu2,b,2,`);

      expect(stagedRows().map((row) => row.u)).toEqual(['u1', 'u2']);
    });

    it('keeps a quote inside an unquoted field as data and reads the rows after it', async () => {
      const { validation, stagedRows } = await validate(`${HEADER}\nu1,x"y,1,\nu2,b,2,\n`);

      expect(validation).toMatchObject({ valid: true, validRows: 2 });
      expect(stagedRows().map(({ r, t }) => [r, t])).toEqual([
        [1, 'x"y'],
        [2, 'b'],
      ]);
    });

    it('keeps text after a closing quote as data, quotes included, and reads the rows after it', async () => {
      const { stagedRows } = await validate(`${HEADER}\nu1,"b"x,1,\nu2,c,2,\n`);

      expect(stagedRows().map(({ r, t }) => [r, t])).toEqual([
        [1, '"b"x'],
        [2, 'c'],
      ]);
    });
  });

  describe('row and line numbers', () => {
    it('numbers rows in file order and lines by where each record starts', async () => {
      // line 1 header, 2 blank, 3-4 u1, 5 u2, 6-8 blank (\n, \r\n, \n), 9-11 u3, 12 u4
      const csv = `${HEADER}\r\n\r\nu1,"multi\r\nline",1,\r\nu2,,2,\n\n\r\n\nu3,"a\nb\rc",3,\ru4,,4,\r\n`;

      const { stagedRows, rejectRows } = await validate(csv, { maxRejectRatio: 1 });

      expect(stagedRows().map((row) => [row.r, row.u])).toEqual([
        [1, 'u1'],
        [3, 'u3'],
      ]);
      expect(rejectRows().map(({ row, line }) => [row, line])).toEqual([
        ['2', '5'],
        ['4', '12'],
      ]);
    });

    it('numbers the rows of a quote that is never closed after the rows before it', async () => {
      const csv = `${HEADER}\nu1,a,1,\nu2,,2,\n\nu3,"open,3,\nu4,d,4,\n`;

      const { validation, rejectRows } = await validate(csv, { maxRejectRatio: 1 });

      expect(validation).toMatchObject({ totalRows: 4, validRows: 1, rejectedRows: 3 });
      expect(rejectRows().map(({ row, line }) => [row, line])).toEqual([
        ['2', '3'],
        ['3', '5'],
        ['4', '6'],
      ]);
    });
  });

  describe('rejected rows', () => {
    it('rejects rows with the wrong number of fields, by row number', async () => {
      const { validation } = await validate(`${HEADER}\nu1,a,1,\nu2,b\nu3,c,3,,extra\nu4,d,4,\n`);

      expect(validation).toMatchObject({ totalRows: 4, validRows: 2, rejectedRows: 2 });
      expect(validation.rejectSample).toEqual([
        { row: 2, reason: 'expected 4 fields, found 2' },
        { row: 3, reason: 'expected 4 fields, found 5' },
      ]);
    });

    it('rejects every line a quote that is never closed swallows, each with its line and text', async () => {
      const csv = `${HEADER}\nu1,a,1,\nu2,"open,2,\nu3,c,3,\n\nu4,d,4,\n`;

      const { validation, stagedRows, rejectRows } = await validate(csv, { maxRejectRatio: 1 });

      expect(validation).toMatchObject({ totalRows: 4, validRows: 1, rejectedRows: 3 });
      expect(stagedRows().map((row) => row.u)).toEqual(['u1']);
      const reason = 'malformed CSV: a quote opened in the record on line 3 is never closed';
      expect(rejectRows()).toEqual([
        { row: '2', line: '3', reason, raw: 'u2,"open,2,' },
        { row: '3', line: '4', reason, raw: 'u3,c,3,' },
        { row: '4', line: '6', reason, raw: 'u4,d,4,' },
      ]);
    });

    it('rejects the whole file when a quote that is never closed swallows more than the reject limit', async () => {
      const csv = `${HEADER}\n${rowsOf(20)}u21,"open,21,\n${rowsOf(5, 22)}`;

      const { validation } = await validate(csv, { maxRejectRatio: 0.1 });

      expect(validation).toMatchObject({ valid: false, totalRows: 26, validRows: 20, rejectedRows: 6 });
      expect(validation.reason).toBe('TooManyRejectedRows: 6 of 26 rows (23.1%) rejected; limit 10.0%');
    });

    it('writes a rejects CSV with row, line, reason and the raw record of every rejected row', async () => {
      const csv = `${HEADER}\r\nu1,a,1,\r\n\r\nu2,b,abc,\r\n"u3","multi\r\nline",1,bad-date\r\nu4,"x,1,\r\n`;

      const { rejects, rejectRows } = await validate(csv, { maxRejectRatio: 1 });

      expect(rejects.text.startsWith(REJECTS_HEADER)).toBe(true);
      expect(rejectRows()).toEqual([
        { row: '2', line: '4', reason: 'value is not a finite number: "abc"', raw: 'u2,b,abc,' },
        {
          row: '3',
          line: '5',
          reason: 'timestamp is not ISO 8601 or epoch (up to year 9999): "bad-date"',
          raw: '"u3","multi\r\nline",1,bad-date',
        },
        {
          row: '4',
          line: '7',
          reason: 'malformed CSV: a quote opened in the record on line 7 is never closed',
          raw: 'u4,"x,1,',
        },
      ]);
    });

    it('names the rejects file and keeps only the first five rejections as a sample', async () => {
      const bad = Array.from({ length: 8 }, (_, i) => `u${i},,1,`).join('\n');

      const { validation, rejectRows } = await validate(`${HEADER}\n${bad}\n`, { maxRejectRatio: 1 });

      expect(validation.rejectsKey).toBe('rejected/a.csv.file-1.rejects.csv');
      expect(validation.rejectSample).toHaveLength(5);
      expect(rejectRows()).toHaveLength(8);
    });

    it('neither opens a rejects file nor names one when every row is valid', async () => {
      const { validation, rejects } = await validate(`${HEADER}\nu1,a,1,\n`);

      expect(rejects.opened).toBe(0);
      expect(validation.rejectsKey).toBeNull();
    });

    it('closes the rejects file it opened', async () => {
      const { rejects } = await validate(`${HEADER}\nu1,,1,\nu2,b,2,\n`);

      expect(rejects).toMatchObject({ opened: 1, closed: 1 });
    });
  });

  describe('over-long records', () => {
    it('rejects the file at a record longer than the limit and lists it and every line after it', async () => {
      const filler = `${'x'.repeat(99)}\n`.repeat(Math.ceil(MAX_RECORD_CHARS / 100) + 10);
      const csv = `${HEADER}\nu1,a,1,\nu2,"open,${filler}"\nu3,c,3,\n`;

      const { validation, chunks, rejectRows } = await validate(csv, { maxRejectRatio: 1 });

      expect(validation.reason).toBe(
        `RecordTooLarge: the record starting on line 3 is longer than ${MAX_RECORD_CHARS} characters (a field that large, or a quote opened there and never closed); it and every line after it are listed in the rejects file`,
      );
      const lines = csv.split('\n').filter((line) => line !== '').length;
      expect(validation).toMatchObject({ valid: false, validRows: 1, totalRows: lines - 1, chunkCount: 0 });
      expect(validation.totalRows).toBe(validation.validRows + validation.rejectedRows);
      const rejected = rejectRows();
      expect(rejected).toHaveLength(validation.rejectedRows);
      expect(rejected[0]).toEqual({
        row: '2',
        line: '3',
        reason: `malformed CSV: the record starting on line 3 is longer than ${MAX_RECORD_CHARS} characters (a field that large, or a quote opened there and never closed)`,
        raw: `u2,"open,${'x'.repeat(99)}`,
      });
      expect(rejected.map((row) => Number(row.line))).toEqual(rejected.map((_, i) => 3 + i));
      expect(rejected.at(-1)).toMatchObject({
        raw: 'u3,c,3,',
        reason: 'not read: follows the over-long record on line 3',
      });
      expect(chunks.size).toBe(0);
    });

    it('lists the valid rows after a single over-long line as rejected, not lost', async () => {
      const csv = `${HEADER}\nu1,a,1,\nu2,${'x'.repeat(MAX_RECORD_CHARS + 10)},2,\n${rowsOf(10, 3)}`;

      const { validation, rejectRows } = await validate(csv, { maxRejectRatio: 1 });

      expect(validation.reason).toMatch(/^RecordTooLarge: the record starting on line 3 /);
      expect(validation).toMatchObject({ valid: false, totalRows: 12, validRows: 1, rejectedRows: 11 });
      const rejected = rejectRows();
      expect(rejected[0]?.raw).toMatch(/… \(1048592 characters; see the original file\)$/);
      expect(rejected.slice(1).map((row) => row.raw)).toEqual(rowsOf(10, 3).trimEnd().split('\n'));
    });
  });

  describe('encodings', () => {
    it('rejects a Latin-1 file instead of merging rené and renè into one user', async () => {
      const latin1 = Buffer.from(`${HEADER}\nren\u00e9,a,1,\nren\u00e8,a,1,\n`, 'latin1');

      const { validation, chunks } = await validate(latin1);

      expect(validation).toMatchObject({ valid: false, chunkCount: 0 });
      expect(validation.reason).toMatch(/^NotUtf8: byte 0xE9 at offset 38 \(line 2\) is not UTF-8/);
      expect(chunks.size).toBe(0);
    });

    it('rejects a gzip file named .csv by what it is, with no raw bytes in the reason', async () => {
      const { gzipSync } = await import('node:zlib');

      const { validation } = await validate(gzipSync(`${HEADER}\n${rowsOf(3)}`));

      expect(validation).toMatchObject({
        valid: false,
        reason: 'NotCsv: the file is gzip-compressed; upload the decompressed CSV',
      });
    });
  });

  describe('chunking', () => {
    it('stages a chunk every chunkRows valid rows and the remainder last', async () => {
      const { validation, chunks } = await validate(`${HEADER}\n${rowsOf(5)}`, { chunkRows: 2 });

      expect(validation.chunkCount).toBe(3);
      expect([...chunks.keys()].sort()).toEqual([0, 1, 2]);
      expect([...chunks.values()].map((body) => body.trimEnd().split('\n').length)).toEqual([2, 2, 1]);
    });

    it('counts only valid rows towards a chunk', async () => {
      const { validation, chunks } = await validate(`${HEADER}\nu1,a,1,\nbad\nu2,b,2,\n`, {
        chunkRows: 2,
        maxRejectRatio: 1,
      });

      expect(validation.chunkCount).toBe(1);
      expect(chunks.size).toBe(1);
    });

    it('fails the file with FileTooLarge when full chunks exceed maxChunks', async () => {
      const { validation } = await validate(`${HEADER}\n${rowsOf(7)}`, { chunkRows: 2, maxChunks: 3 });

      expect(validation).toMatchObject({ valid: false, chunkCount: 0 });
      expect(validation.reason).toBe('FileTooLarge: more than 6 valid rows; split the file');
    });

    it('fails the file with FileTooLarge when only the last, partial chunk exceeds maxChunks', async () => {
      const { validation, chunks } = await validate(`${HEADER}\n${rowsOf(7)}`, {
        chunkRows: 3,
        maxChunks: 2,
      });

      expect(validation.reason).toMatch(/^FileTooLarge: /);
      expect(chunks.size).toBeLessThanOrEqual(2);
    });

    it('accepts a file that fills exactly maxChunks chunks', async () => {
      const { validation } = await validate(`${HEADER}\n${rowsOf(6)}`, { chunkRows: 2, maxChunks: 3 });

      expect(validation).toMatchObject({ valid: true, chunkCount: 3 });
    });
  });

  describe('whole-file verdicts', () => {
    it('rejects the file when the share of rejected rows is over the limit', async () => {
      const { validation } = await validate(`${HEADER}\nu1,a,1,\nu2,,2,\nu3,,3,\n`, { maxRejectRatio: 0.5 });

      expect(validation).toMatchObject({ valid: false, chunkCount: 0, rejectedRows: 2, totalRows: 3 });
      expect(validation.reason).toBe('TooManyRejectedRows: 2 of 3 rows (66.7%) rejected; limit 50.0%');
    });

    it('accepts the file when the share of rejected rows is exactly the limit', async () => {
      const { validation } = await validate(`${HEADER}\nu1,a,1,\nu2,,2,\n`, { maxRejectRatio: 0.5 });

      expect(validation).toMatchObject({ valid: true, chunkCount: 1 });
    });

    it('rejects a file whose rows were all rejected even when the ratio allows it', async () => {
      const { validation } = await validate(`${HEADER}\nu1,,1,\nu2,,2,\n`, { maxRejectRatio: 1 });

      expect(validation).toMatchObject({ valid: false, chunkCount: 0 });
      expect(validation.reason).toBe('NoValidRows: all 2 rows were rejected');
    });

    it('rejects a header without the required columns and says which are missing', async () => {
      const { validation, chunks } = await validate('user,type\nu1,a\n');

      expect(validation).toMatchObject({ valid: false, totalRows: 0, chunkCount: 0 });
      expect(validation.reason).toBe(
        'InvalidHeader: missing column(s) user_id, event_type; found user, type',
      );
      expect(chunks.size).toBe(0);
    });

    it('stops reading at a bad header', async () => {
      const endless = Readable.from(
        (function* () {
          yield Buffer.from('user,type\n');
          for (;;) yield Buffer.from('u1,a\n');
        })(),
      );

      const validation = await validateCsv(endless, options(), memorySinks().sinks);

      expect(validation.reason).toMatch(/^InvalidHeader: /);
      expect(endless.destroyed).toBe(true);
    });

    it('rejects a header line with a quote that is never closed, rejecting no rows', async () => {
      const { validation, rejects } = await validate('user_id,"event_type\nu1,a\n');

      expect(validation.reason).toBe(
        'InvalidHeader: malformed header line: a quote opened in the record on line 1 is never closed',
      );
      expect(validation).toMatchObject({ totalRows: 0, rejectedRows: 0 });
      expect(rejects.opened).toBe(0);
    });

    it('rejects an empty file', async () => {
      const { validation } = await validate('');

      expect(validation).toMatchObject({ valid: false, reason: 'EmptyFile: the file has no header row' });
    });

    it('rejects a file of blank lines as empty', async () => {
      const { validation } = await validate('\n\r\n\n');

      expect(validation.reason).toBe('EmptyFile: the file has no header row');
    });

    it('rejects a file with a header and no rows', async () => {
      const { validation } = await validate(`${HEADER}\n`);

      expect(validation).toMatchObject({
        valid: false,
        reason: 'NoDataRows: the file has a header but no data rows',
        totalRows: 0,
      });
    });
  });

  describe('failures', () => {
    it('fails when staging a chunk fails, even while other uploads are still in flight', async () => {
      const memory = memorySinks();
      const sinks: ValidateSinks = {
        ...memory.sinks,
        stageChunk: async (index) => {
          if (index === 0) throw Object.assign(new Error('slow down'), { name: 'SlowDown' });
        },
      };

      const validation = validateCsv(streamOf(`${HEADER}\n${rowsOf(3)}`), options({ chunkRows: 1 }), sinks);

      await expect(validation).rejects.toMatchObject({ name: 'SlowDown' });
    });

    it('fails when the last chunk upload fails', async () => {
      const memory = memorySinks();
      const sinks: ValidateSinks = {
        ...memory.sinks,
        stageChunk: async () => {
          throw Object.assign(new Error('access denied'), { name: 'AccessDenied' });
        },
      };

      const validation = validateCsv(streamOf(`${HEADER}\n${rowsOf(3)}`), options(), sinks);

      await expect(validation).rejects.toMatchObject({ name: 'AccessDenied' });
    });

    it('fails when the source stream fails part way instead of waiting for more data', async () => {
      const source = new Readable({ read() {} });
      source.push(`${HEADER}\nu1,a,1,\n`);
      setImmediate(() => source.destroy(Object.assign(new Error('socket hang up'), { code: 'ECONNRESET' })));

      const validation = validateCsv(source, options(), memorySinks().sinks);

      await expect(validation).rejects.toThrow('socket hang up');
    });

    it('closes the rejects file when reading fails', async () => {
      const memory = memorySinks();
      const source = new Readable({ read() {} });
      // The parser holds the last line back until it sees what follows its line break, hence u2.
      source.push(`${HEADER}\nu1,,1,\nu2,b,2,\n`);
      const sinks: ValidateSinks = {
        ...memory.sinks,
        openRejects: () => {
          // The stream breaks once a rejected row has been written.
          setImmediate(() => source.destroy(new Error('socket hang up')));
          return memory.sinks.openRejects();
        },
      };

      await expect(validateCsv(source, options(), sinks)).rejects.toThrow('socket hang up');
      expect(memory.rejects).toMatchObject({ opened: 1, closed: 1 });
    });
  });
});
