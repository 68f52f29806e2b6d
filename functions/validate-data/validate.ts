import type { Readable } from 'node:stream';
import { stringify } from 'csv-stringify/sync';
import type { Validation } from '#shared/model.ts';
import { readCsvRecords } from './records.ts';
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
  /** Physical line where the record starts (1-based, the header is line 1). */
  line: number;
  reason: string;
  raw: string;
}

const SAMPLE_SIZE = 5;
const MAX_RECORD_CHARS = 1024 * 1024;
const MAX_STAGING_IN_FLIGHT = 4;
export const REJECTS_HEADER = 'row,line,reason,raw\n';

export const validateCsv = async (
  source: Readable,
  options: ValidateOptions,
  sinks: ValidateSinks,
): Promise<Validation> => {
  let columns: Columns | undefined;
  let headerSeen = false;
  let headerReason: string | undefined;
  let tooLarge = false;
  let rowNumber = 0;
  let validRows = 0;
  let rejectedRows = 0;
  let chunkCount = 0;
  let buffer: string[] = [];
  const sample: Validation['rejectSample'] = [];
  const inFlight = new Set<Promise<void>>();
  // The first failed chunk upload; checked after every await so a failure is never lost or left unhandled.
  let stagingFailure: { error: unknown } | undefined;
  let rejects: RejectsWriter | undefined;

  const throwIfStagingFailed = (): void => {
    if (stagingFailure !== undefined) throw stagingFailure.error;
  };

  const stage = async (): Promise<void> => {
    const index = chunkCount;
    chunkCount += 1;
    const body = `${buffer.join('\n')}\n`;
    buffer = [];
    const upload: Promise<void> = sinks.stageChunk(index, body).then(
      () => {
        inFlight.delete(upload);
      },
      (error: unknown) => {
        inFlight.delete(upload);
        stagingFailure ??= { error };
      },
    );
    inFlight.add(upload);
    if (inFlight.size >= MAX_STAGING_IN_FLIGHT) await Promise.race(inFlight);
    throwIfStagingFailed();
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

  const consume = async (): Promise<void> => {
    for await (const batch of readCsvRecords(source, { maxRecordChars: MAX_RECORD_CHARS })) {
      for (const record of batch) {
        if (columns === undefined) {
          headerSeen = true;
          const header = record.ok
            ? checkHeader(record.fields)
            : { ok: false as const, reason: `InvalidHeader: malformed header line: ${record.reason}` };
          if (!header.ok) {
            headerReason = header.reason;
            return;
          }
          columns = header.columns;
          continue;
        }
        rowNumber += 1;
        const check = record.ok
          ? checkRow(record.fields, rowNumber, columns, options.defaultTimestamp)
          : { ok: false as const, reason: `malformed CSV: ${record.reason}` };
        if (!check.ok) {
          await reject({ row: rowNumber, line: record.line, reason: check.reason, raw: record.raw });
          continue;
        }
        validRows += 1;
        buffer.push(JSON.stringify(check.row));
        if (buffer.length >= options.chunkRows) {
          if (chunkCount >= options.maxChunks) {
            tooLarge = true;
            return;
          }
          await stage();
        }
      }
    }
    if (buffer.length > 0) {
      // The last, partial chunk counts against the limit like any other.
      if (chunkCount >= options.maxChunks) {
        tooLarge = true;
        return;
      }
      await stage();
    }
    await Promise.all(inFlight);
    throwIfStagingFailed();
  };

  const cleanUp = async (): Promise<void> => {
    source.destroy();
    await Promise.all(inFlight);
    await rejects?.close();
  };

  try {
    await consume();
  } catch (error) {
    // The first error is the one worth reporting; a failing clean-up must not replace it.
    await cleanUp().catch(() => undefined);
    throw error;
  }
  await cleanUp();

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
  // Only reachable with MAX_REJECT_RATIO 1; the workflow cannot plan zero chunks.
  if (validRows === 0) return result(false, `NoValidRows: all ${totalRows} rows were rejected`);
  return result(true);
};
