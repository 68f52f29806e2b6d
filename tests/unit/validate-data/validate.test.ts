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

/** Sinks that keep everything in memory: staged chunks by index and the rejects file's text. */
const memorySinks = () => {
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
  };
  const stagedRows = (): StagedRow[] =>
    [...chunks.entries()]
      .sort(([a], [b]) => a - b)
      .flatMap(([, body]) => body.trimEnd().split('\n'))
      .map((line) => JSON.parse(line) as StagedRow);
  const rejectRows = () => parse(rejects.text, { columns: true }) as Record<string, string>[];
  return { sinks, chunks, rejects, stagedRows, rejectRows };
};

const streamOf = (text: string | Buffer) =>
  Readable.from([typeof text === 'string' ? Buffer.from(text) : text]);

const validate = async (text: string | Buffer, overrides: Partial<ValidateOptions> = {}) => {
  const memory = memorySinks();
  const validation = await validateCsv(streamOf(text), options(overrides), memory.sinks);
  return { validation, ...memory };
};

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

    it('reads a header that starts with a UTF-8 byte order mark', async () => {
      const bom = Buffer.from([0xef, 0xbb, 0xbf]);
      const { validation } = await validate(Buffer.concat([bom, Buffer.from(`${HEADER}\nu1,a,1,\n`)]));

      expect(validation).toMatchObject({ valid: true, validRows: 1 });
    });

    it('skips blank lines without counting them as rows', async () => {
      const { validation, stagedRows } = await validate(`${HEADER}\n\nu1,a,1,\n\n\nu2,b,2,\n`);

      expect(validation).toMatchObject({ totalRows: 2, validRows: 2 });
      expect(stagedRows().map((row) => row.r)).toEqual([1, 2]);
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

    it('rejects each row with malformed quotes on its own and keeps the rows after it', async () => {
      const csv = [HEADER, 'u1,a,1,', 'u2,"b"x,2,', 'u3,c,3,', 'u4,d"d,4,', 'u5,"open,5,', 'u6,f,6,'].join(
        '\n',
      );

      const { validation, stagedRows } = await validate(`${csv}\n`, { maxRejectRatio: 1 });

      expect(validation).toMatchObject({ totalRows: 6, validRows: 3, rejectedRows: 3 });
      expect(validation.rejectSample.map((entry) => entry.row)).toEqual([2, 4, 5]);
      expect(validation.rejectSample.every((entry) => entry.reason.startsWith('malformed CSV: '))).toBe(true);
      expect(stagedRows().map((row) => [row.r, row.u])).toEqual([
        [1, 'u1'],
        [3, 'u3'],
        [6, 'u6'],
      ]);
    });

    it('writes a rejects CSV with row, line, reason and the raw record of every rejected row', async () => {
      const csv = `${HEADER}\nu1,a,1,\n\nu2,b,abc,\n"u3","multi\nline",1,bad-date\nu4,"x"y,1,\n`;

      const { rejects, rejectRows } = await validate(csv, { maxRejectRatio: 1 });

      expect(rejects.text.startsWith(REJECTS_HEADER)).toBe(true);
      expect(rejectRows()).toEqual([
        { row: '2', line: '4', reason: 'value is not a finite number: "abc"', raw: 'u2,b,abc,' },
        {
          row: '3',
          line: '5',
          reason: 'timestamp is neither ISO 8601 nor epoch: "bad-date"',
          raw: '"u3","multi\nline",1,bad-date',
        },
        {
          row: '4',
          line: '7',
          reason: 'malformed CSV: unexpected character after the closing quote of field 2',
          raw: 'u4,"x"y,1,',
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

  describe('chunking', () => {
    it('stages a chunk every chunkRows valid rows and the remainder last', async () => {
      const rows = Array.from({ length: 5 }, (_, i) => `u${i},a,${i},`).join('\n');

      const { validation, chunks } = await validate(`${HEADER}\n${rows}\n`, { chunkRows: 2 });

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
      const rows = Array.from({ length: 7 }, (_, i) => `u${i},a,${i},`).join('\n');

      const { validation } = await validate(`${HEADER}\n${rows}\n`, { chunkRows: 2, maxChunks: 3 });

      expect(validation).toMatchObject({ valid: false, chunkCount: 0 });
      expect(validation.reason).toBe('FileTooLarge: more than 6 valid rows; split the file');
    });

    it('fails the file with FileTooLarge when only the last, partial chunk exceeds maxChunks', async () => {
      const rows = Array.from({ length: 7 }, (_, i) => `u${i},a,${i},`).join('\n');

      const { validation, chunks } = await validate(`${HEADER}\n${rows}\n`, { chunkRows: 3, maxChunks: 2 });

      expect(validation.reason).toMatch(/^FileTooLarge: /);
      expect(chunks.size).toBeLessThanOrEqual(2);
    });

    it('accepts a file that fills exactly maxChunks chunks', async () => {
      const rows = Array.from({ length: 6 }, (_, i) => `u${i},a,${i},`).join('\n');

      const { validation } = await validate(`${HEADER}\n${rows}\n`, { chunkRows: 2, maxChunks: 3 });

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

    it('rejects a header line that is not valid CSV, without reading further', async () => {
      const { validation, rejects } = await validate('user_id,"event_type"x\nu1,"a\n');

      expect(validation.reason).toBe(
        'InvalidHeader: malformed header line: unexpected character after the closing quote of field 2',
      );
      expect(validation.totalRows).toBe(0);
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
      const rows = Array.from({ length: 3 }, (_, i) => `u${i},a,${i},`).join('\n');

      const validation = validateCsv(streamOf(`${HEADER}\n${rows}\n`), options({ chunkRows: 1 }), sinks);

      await expect(validation).rejects.toMatchObject({ name: 'SlowDown' });
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
      source.push(`${HEADER}\nu1,,1,\n`);
      setImmediate(() => source.destroy(new Error('socket hang up')));

      await expect(validateCsv(source, options(), memory.sinks)).rejects.toThrow('socket hang up');
      expect(memory.rejects).toMatchObject({ opened: 1, closed: 1 });
    });
  });
});
