import type { Readable } from 'node:stream';
import { type CsvError, type Options, parse } from 'csv-parse';
import { stringify } from 'csv-stringify/sync';
import type { StagedRow, Validation } from '#shared/model.ts';
import { type Columns, checkHeader, checkRow } from './rows.ts';

export interface ValidateOptions {
  fileId: string;
  /** Event time for rows without a timestamp: the object's creation time, so reruns agree. */
  defaultTimestamp: string;
  chunkRows: number;
  /** Bounds the Map's item count (States.ArrayRange makes at most 1,000 items). */
  maxChunks: number;
  maxRejectRatio: number;
  rejectsKey: string;
}

export interface RejectsWriter {
  write(text: string): Promise<void>;
  close(): Promise<void>;
}

/** Where the results go; the handler binds these to S3, tests to memory. */
export interface ValidateSinks {
  stageChunk(index: number, body: string): Promise<void>;
  openRejects(): RejectsWriter;
}

interface Reject {
  row: number;
  line: number;
  reason: string;
  raw: string;
}

type Parsed =
  | { kind: 'header'; reason?: string }
  | { kind: 'row'; row: StagedRow }
  | { kind: 'reject'; reject: Reject };

const SAMPLE_SIZE = 5;
const MAX_RECORD_BYTES = 1024 * 1024;
const MAX_STAGING_IN_FLIGHT = 4;
export const REJECTS_HEADER = 'row,line,reason,raw\n';

export const validateCsv = async (
  source: Readable,
  options: ValidateOptions,
  sinks: ValidateSinks,
): Promise<Validation> => {
  let columns: Columns | undefined;
  let headerDone = false;
  let headerProblem: string | undefined;
  let rowNumber = 0;
  // Records the parser could not read (bad quoting) are reported through on_skip, out of band of the stream.
  const skipped: Reject[] = [];

  const parserOptions: Options<Parsed, string[]> = {
    bom: true,
    record_delimiter: ['\r\n', '\n', '\r'],
    relax_column_count: true,
    skip_empty_lines: true,
    skip_records_with_error: true,
    max_record_size: MAX_RECORD_BYTES,
    // on_record and on_skip run synchronously in file order, so row numbers are exact even with skips.
    on_record: (record: string[], context): Parsed => {
      if (!headerDone) {
        headerDone = true;
        const header = checkHeader(record);
        if (!header.ok) return { kind: 'header', reason: header.reason };
        columns = header.columns;
        return { kind: 'header' };
      }
      if (columns === undefined) return { kind: 'header', reason: headerProblem ?? 'InvalidHeader' };
      rowNumber += 1;
      const check = checkRow(record, rowNumber, columns, options.defaultTimestamp);
      if (check.ok) return { kind: 'row', row: check.row };
      const raw = stringify([record]).trimEnd();
      return { kind: 'reject', reject: { row: rowNumber, line: context.lines, reason: check.reason, raw } };
    },
    on_skip: (error: CsvError | undefined, raw: string | undefined) => {
      if (!headerDone) {
        headerDone = true;
        headerProblem = `InvalidHeader: malformed header line: ${error?.message ?? 'unreadable'}`;
        return undefined;
      }
      rowNumber += 1;
      skipped.push({
        row: rowNumber,
        line: typeof error?.lines === 'number' ? error.lines : 0,
        reason: `malformed CSV: ${error?.message ?? 'unreadable record'}`,
        raw: (raw ?? '').replace(/\r?\n$/, ''),
      });
      return undefined;
    },
  };
  // csv-parse's stream overloads type records as string[]; on_record turns them into Parsed.
  const parser = parse(parserOptions as unknown as Options);

  let validRows = 0;
  let rejectedRows = 0;
  let chunkCount = 0;
  let buffer: string[] = [];
  let headerReason: string | undefined;
  let headerSeen = false;
  let tooLarge = false;
  const sample: Validation['rejectSample'] = [];
  const inFlight = new Set<Promise<void>>();
  let rejects: RejectsWriter | undefined;

  const stage = async (): Promise<void> => {
    const index = chunkCount;
    chunkCount += 1;
    const body = `${buffer.join('\n')}\n`;
    buffer = [];
    const upload = sinks.stageChunk(index, body).finally(() => inFlight.delete(upload));
    inFlight.add(upload);
    if (inFlight.size >= MAX_STAGING_IN_FLIGHT) await Promise.race(inFlight);
  };

  const reject = async (entry: Reject): Promise<void> => {
    rejectedRows += 1;
    if (sample.length < SAMPLE_SIZE) sample.push({ row: entry.row, reason: entry.reason });
    if (rejects === undefined) {
      rejects = sinks.openRejects();
      await rejects.write(REJECTS_HEADER);
    }
    await rejects.write(stringify([[entry.row, entry.line, entry.reason, entry.raw]]));
  };

  const drainSkipped = async (): Promise<void> => {
    for (const entry of skipped.splice(0)) await reject(entry);
  };

  try {
    for await (const item of source.pipe(parser) as AsyncIterable<Parsed>) {
      await drainSkipped();
      if (item.kind === 'header') {
        headerSeen = true;
        headerReason = item.reason;
        if (headerReason !== undefined) break;
      } else if (item.kind === 'reject') {
        await reject(item.reject);
      } else {
        validRows += 1;
        buffer.push(JSON.stringify(item.row));
        if (buffer.length >= options.chunkRows) {
          if (chunkCount >= options.maxChunks) {
            tooLarge = true;
            break;
          }
          await stage();
        }
      }
    }
    await drainSkipped();
    if (headerProblem !== undefined && headerReason === undefined) {
      headerSeen = true;
      headerReason = headerProblem;
    }
    if (!tooLarge && headerReason === undefined && buffer.length > 0) await stage();
    await Promise.all(inFlight);
  } finally {
    source.destroy();
    await (rejects as RejectsWriter | undefined)?.close();
  }

  const totalRows = validRows + rejectedRows;
  const result = (valid: boolean, reason?: string): Validation => ({
    valid,
    ...(reason === undefined ? {} : { reason }),
    fileId: options.fileId,
    totalRows,
    validRows,
    rejectedRows,
    chunkCount: valid ? chunkCount : 0,
    rejectsKey: rejectedRows > 0 ? options.rejectsKey : null,
    rejectSample: sample,
  });

  if (!headerSeen) return result(false, 'EmptyFile: the file has no header row');
  if (headerReason !== undefined) return result(false, headerReason);
  if (tooLarge) {
    const limit = options.chunkRows * options.maxChunks;
    return result(false, `FileTooLarge: more than ${limit} valid rows; split the file`);
  }
  if (totalRows === 0) return result(false, 'NoDataRows: the file has a header but no data rows');
  if (rejectedRows / totalRows > options.maxRejectRatio) {
    const share = ((rejectedRows / totalRows) * 100).toFixed(1);
    const limit = (options.maxRejectRatio * 100).toFixed(1);
    return result(
      false,
      `TooManyRejectedRows: ${rejectedRows} of ${totalRows} rows (${share}%) rejected; limit ${limit}%`,
    );
  }
  return result(true);
};
