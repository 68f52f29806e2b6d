import { describe, expect, it } from 'vitest';
import {
  chunkKeyOf,
  eventIdOf,
  executionNameOf,
  fileIdOf,
  partialKeyOf,
  processedKeyOf,
  rejectsKeyOf,
  relocate,
} from '../../../functions/shared/keys.ts';

// Step Functions: "name" is 1-80 characters of letters, digits, hyphens and underscores.
const VALID_EXECUTION_NAME = /^[A-Za-z0-9_-]{1,80}$/;

describe('fileIdOf', () => {
  it('gives the same id for the same bucket, key and ETag', () => {
    expect(fileIdOf('bucket', 'uploads/a.csv', 'abc')).toBe(fileIdOf('bucket', 'uploads/a.csv', 'abc'));
  });

  it('ignores the quotes S3 puts around an ETag in API responses', () => {
    expect(fileIdOf('bucket', 'uploads/a.csv', '"abc"')).toBe(fileIdOf('bucket', 'uploads/a.csv', 'abc'));
  });

  it('gives a new id when the content (ETag) changes', () => {
    expect(fileIdOf('bucket', 'uploads/a.csv', 'abc')).not.toBe(fileIdOf('bucket', 'uploads/a.csv', 'abd'));
  });

  it('gives different ids to the same content under different keys', () => {
    expect(fileIdOf('bucket', 'uploads/a.csv', 'abc')).not.toBe(fileIdOf('bucket', 'uploads/b.csv', 'abc'));
  });

  it('is 24 lowercase hex characters', () => {
    expect(fileIdOf('bucket', 'uploads/a.csv', 'abc')).toMatch(/^[0-9a-f]{24}$/);
  });
});

describe('eventIdOf', () => {
  it('gives the same id for the same file and row, so a retried chunk overwrites its items', () => {
    expect(eventIdOf('file-1', 7)).toBe(eventIdOf('file-1', 7));
  });

  it('gives different ids to different rows of one file', () => {
    expect(eventIdOf('file-1', 7)).not.toBe(eventIdOf('file-1', 8));
  });

  it('gives different ids to the same row of different files', () => {
    expect(eventIdOf('file-1', 7)).not.toBe(eventIdOf('file-2', 7));
  });
});

describe('executionNameOf', () => {
  const fileId = fileIdOf('bucket', 'uploads/x.csv', 'etag');

  it('is the file name without .csv followed by the file id', () => {
    expect(executionNameOf('uploads/daily/sales.csv', fileId)).toBe(`sales-${fileId}`);
  });

  it.each([
    ['spaces', 'uploads/my sales (final).csv'],
    ['unicode', 'uploads/ventes-été-📈.csv'],
    ['dots and symbols', 'uploads/a.b.c+d=e&f@g#h.CSV'],
    ['a 300-character name', `uploads/${'x'.repeat(300)}.csv`],
    ['a name of only unicode', 'uploads/数据.csv'],
    ['no file name at all', 'uploads/'],
    ['a bare .csv', 'uploads/.csv'],
    ['no prefix', 'sample.csv'],
  ])('is a valid Step Functions execution name for a key with %s', (_case, key) => {
    expect(executionNameOf(key, fileId)).toMatch(VALID_EXECUTION_NAME);
  });

  it('keeps the file id whole when the file name is long, so names stay unique', () => {
    const name = executionNameOf(`uploads/${'y'.repeat(300)}.csv`, fileId);

    expect(name.endsWith(fileId)).toBe(true);
  });

  it('is deterministic', () => {
    expect(executionNameOf('uploads/a b.csv', fileId)).toBe(executionNameOf('uploads/a b.csv', fileId));
  });
});

describe('S3 layout', () => {
  it('names staged chunks and partials with zero-padded indexes so they list in order', () => {
    expect(chunkKeyOf('f1', 3)).toBe('staging/f1/chunks/00003.ndjson');
    expect(partialKeyOf('f1', 12)).toBe('staging/f1/partials/00012.json');
  });

  it('partitions processed objects by day in Hive style for Athena', () => {
    expect(processedKeyOf('2026-01-15', 'f1', 2)).toBe('processed/dt=2026-01-15/f1-00002.json.gz');
  });

  it('keeps the path below uploads/ when an original moves', () => {
    expect(relocate('uploads/2026/01/a.csv', 'archive/')).toBe('archive/2026/01/a.csv');
  });

  it('puts the rejects file next to where the rejected original goes, named by file id', () => {
    expect(rejectsKeyOf('uploads/a.csv', 'f1')).toBe('rejected/a.csv.f1.rejects.csv');
  });

  describe("an upload whose name takes all of S3's 1,024 bytes", () => {
    const longest = (char: string) => `uploads/${char.repeat((1024 - 8) / Buffer.byteLength(char))}`;

    it.each([
      ['ASCII', 'a'],
      ['two-byte characters', 'é'],
      ['four-byte characters', '😀'],
    ])('still gets keys within the limit in rejected/ and for its rejects file (%s)', (_case, char) => {
      const upload = longest(char);
      expect(Buffer.byteLength(upload)).toBe(1024);

      const moved = relocate(upload, 'rejected/');
      const rejects = rejectsKeyOf(upload, 'f'.repeat(24));

      for (const key of [moved, rejects]) {
        expect(Buffer.byteLength(key)).toBeLessThanOrEqual(1024);
        expect(key).not.toContain('\uFFFD');
      }
      expect(moved).toMatch(/^rejected\/.+~[0-9a-f]{16}$/);
      expect(rejects).toMatch(/~[0-9a-f]{16}\.f{24}\.rejects\.csv$/);
    });

    it('keeps two long names that differ only at the end apart', () => {
      const a = `${longest('a').slice(0, -1)}b`;

      expect(relocate(a, 'rejected/')).not.toBe(relocate(longest('a'), 'rejected/'));
    });

    it('leaves archive/ keys, one byte shorter than uploads/, unchanged', () => {
      expect(relocate(longest('a'), 'archive/')).toBe(`archive/${'a'.repeat(1016)}`);
    });
  });
});
