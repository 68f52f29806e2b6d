import { gzipSync } from 'node:zlib';
import { CreateBucketCommand, PutObjectCommand, S3Client } from '@aws-sdk/client-s3';
import { parse } from 'csv-parse/sync';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { clientConfig } from '../../local/aws.ts';
import { startEmulator } from '../../local/emulator.ts';
import type { OfflinePipeline } from '../../local/pipeline.ts';
import {
  eventItems,
  fileMetadata,
  objectExists,
  objectText,
  projectRoot,
  startPipeline,
  uploadAndWait,
} from './support.ts';

// Files nobody expected, through the real pipeline: each gets exactly one recorded outcome (SUCCEEDED with
// its bad rows listed, or REJECTED with a bounded, printable reason), its original kept in archive/ or
// rejected/ and gone from uploads/, and rows in = stored + rejected, with exactly the stored rows in the
// table. Empty and header-only files are in workflow.test.ts.

let pipeline: OfflinePipeline;
const tally = { files: 0, rowsIn: 0, stored: 0, rejected: 0 };

beforeAll(async () => {
  pipeline = await startPipeline({ stackName: 'hostile' });
});

afterAll(async () => {
  console.log(
    `hostile files: ${tally.files}; rows in ${tally.rowsIn} = stored ${tally.stored} + rejected ${tally.rejected} (alone or with their file)`,
  );
  await pipeline?.stop();
});

const good = (userId: string, n: number) =>
  Array.from({ length: n }, (_, i) => `${userId},click,${i + 1},2026-11-0${1 + (i % 9)}T10:00:00Z`);
const lines = (...rows: string[]) => Buffer.from(`${rows.join('\n')}\n`, 'utf8');
const HEADER = 'user_id,event_type,value,timestamp';

interface Case {
  name: string;
  body: Buffer;
  outcome: 'SUCCEEDED' | 'REJECTED';
  /** For a REJECTED file, what its reason starts with; for a SUCCEEDED one, the rejected rows' reasons. */
  reason?: RegExp;
  rejectedReasons?: RegExp[];
  /** Users whose EVENT# items from this file are to add up to the stored rows. */
  users?: string[];
  rows?: { total: number; stored: number; rejected: number };
  key?: string;
}

const utf16 = Buffer.concat([Buffer.from([0xff, 0xfe]), Buffer.from(`${HEADER}\nu,click,1,\n`, 'utf16le')]);
const zip = Buffer.concat([Buffer.from('PK\u0003\u0004', 'latin1'), Buffer.alloc(200, 1)]);
const latin1 = Buffer.from(`${HEADER}\nren\u00e9,click,1,\nren\u00e8,click,2,\n`, 'latin1');
const longName = `uploads/hostile/${'n'.repeat(1016 - 'uploads/hostile/'.length - '.csv'.length)}.csv`;

const cases: Case[] = [
  { name: 'Latin-1 bytes', body: latin1, outcome: 'REJECTED', reason: /^NotUtf8/ },
  { name: 'gzip', body: gzipSync(lines(HEADER, ...good('gz', 3))), outcome: 'REJECTED', reason: /^NotCsv/ },
  { name: 'a ZIP (Excel) file', body: zip, outcome: 'REJECTED', reason: /^NotCsv/ },
  { name: 'UTF-16', body: utf16, outcome: 'REJECTED', reason: /^NotCsv/ },
  { name: 'NUL bytes', body: lines(HEADER, 'a\u0000b,click,1,'), outcome: 'REJECTED', reason: /^NotText/ },
  {
    name: 'a known column twice',
    body: lines('user_id,event_type,user_id', 'a,click,b'),
    outcome: 'REJECTED',
    reason: /^InvalidHeader/,
  },
  {
    name: 'a quote never closed, after good rows',
    body: lines(HEADER, ...good('hq', 10), '"hq-broken,click,1,'),
    outcome: 'SUCCEEDED',
    users: ['hq'],
    rows: { total: 11, stored: 10, rejected: 1 },
  },
  {
    name: 'a 1 MiB field between good rows',
    body: lines(HEADER, ...good('hm', 10), `hm,${'x'.repeat(1024 * 1024 + 10)},1,`, ...good('hm', 10)),
    outcome: 'REJECTED',
    reason: /^RecordTooLarge/,
    // The record and every line after it are listed; the 10 rows before it are kept in the original.
    rows: { total: 21, stored: 0, rejected: 11 },
  },
  {
    name: 'ids `.` and `..` among good ones',
    body: lines(HEADER, ...good('hd', 38), '.,click,1,', '..,click,1,'),
    outcome: 'SUCCEEDED',
    users: ['hd'],
    rows: { total: 40, stored: 38, rejected: 2 },
    rejectedReasons: [/user_id/, /user_id/],
  },
  {
    name: 'values of 1e16 and 1e200 and a timestamp in year 33658',
    body: lines(HEADER, ...good('hn', 37), 'hn,click,1e16,', 'hn,click,1e200,', 'hn,click,1,999999999999'),
    outcome: 'SUCCEEDED',
    users: ['hn'],
    rows: { total: 40, stored: 37, rejected: 3 },
    rejectedReasons: [/value/, /value/, /timestamp/],
  },
  {
    name: 'a name with spaces, #, % and non-ASCII',
    key: 'uploads/hostile/März 2026 #1 100% café.csv',
    body: lines(HEADER, ...good('hs', 4)),
    outcome: 'SUCCEEDED',
    users: ['hs'],
    rows: { total: 4, stored: 4, rejected: 0 },
  },
  {
    name: 'a 1,016-byte name',
    key: longName,
    body: lines(HEADER, ...good('hl', 19), ',click,1,'),
    outcome: 'SUCCEEDED',
    users: ['hl'],
    rows: { total: 20, stored: 19, rejected: 1 },
  },
];

describe('a hostile file gets exactly one outcome and keeps its original', () => {
  it.each(cases.map((c) => [c.name, c] as const))('%s', async (name, c) => {
    const key = c.key ?? `uploads/hostile/${name.replaceAll(/[^a-z0-9]+/gi, '-')}.csv`;

    const { upload, execution } = await uploadAndWait(pipeline, key, c.body, 300_000);

    expect(execution.status).toBe('SUCCEEDED');
    const metadata = await fileMetadata(pipeline, key);
    expect(metadata?.status, String(metadata?.reason)).toBe(c.outcome);
    const rows = metadata?.rows as { total: number; stored: number; rejected: number };
    // A SUCCEEDED file accounts for each row; a REJECTED one stores none (all are kept in its original).
    if (c.outcome === 'SUCCEEDED') expect(rows.total).toBe(rows.stored + rows.rejected);
    else expect(rows.stored).toBe(0);
    if (c.rows !== undefined) expect(rows).toEqual(c.rows);
    const reason = String(metadata?.reason ?? '');
    if (c.reason !== undefined) expect(reason).toMatch(c.reason);
    expect(reason.length).toBeLessThanOrEqual(500);
    // Printable: \p{Cc} is every C0/C1 control and DEL; U+FFFD would mean bytes were decoded as UTF-8 blindly.
    expect(reason).not.toMatch(/[\p{Cc}\ufffd]/u);

    const destination = String(metadata?.destinationKey);
    expect(destination.startsWith(c.outcome === 'SUCCEEDED' ? 'archive/' : 'rejected/')).toBe(true);
    expect(await objectExists(pipeline, destination), destination).toBe(true);
    expect(await objectExists(pipeline, key)).toBe(false);

    const stored = (await Promise.all((c.users ?? []).map((user) => eventItems(pipeline, user))))
      .flat()
      .filter((event) => event.fileId === upload.fileId);
    expect(stored).toHaveLength(c.outcome === 'SUCCEEDED' ? rows.stored : 0);
    if (rows.rejected > 0) {
      const rejects = parse(await objectText(pipeline, String(metadata?.rejectsKey))) as string[][];
      expect(rejects.slice(1)).toHaveLength(rows.rejected);
      for (const [i, pattern] of (c.rejectedReasons ?? []).entries())
        expect(rejects[i + 1]?.[2]).toMatch(pattern);
    }
    tally.files += 1;
    tally.rowsIn += rows.total;
    tally.stored += rows.stored;
    tally.rejected += rows.total - rows.stored;
  });
});

describe('an S3 key over 1,024 bytes', () => {
  const key = `uploads/${'k'.repeat(1025 - 'uploads/'.length)}`;

  it('is refused with KeyTooLongError at the emulator boundary, as S3 refuses it', async () => {
    const put = pipeline.clients.s3.send(
      new PutObjectCommand({ Bucket: pipeline.bucket, Key: key, Body: 'x' }),
    );

    await expect(put).rejects.toMatchObject({ name: 'KeyTooLongError' });
  });

  it('is stored by plain moto_server: the defect the boundary fixes', async () => {
    const emulator = await startEmulator(projectRoot, () => undefined, { flavour: 'plain' });
    try {
      const s3 = new S3Client({ ...clientConfig(emulator.endpoint), forcePathStyle: true });
      await s3.send(new CreateBucketCommand({ Bucket: 'plain' }));

      const put = await s3.send(new PutObjectCommand({ Bucket: 'plain', Key: key, Body: 'x' }));

      expect(put.ETag).toBeTruthy();
    } finally {
      await emulator.stop();
    }
  });
});
