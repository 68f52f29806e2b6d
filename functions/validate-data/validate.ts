import { createInterface } from 'node:readline';
import { pipeline, type Readable } from 'node:stream';
import { type CsvError, parse } from 'csv-parse';
import { stringify } from 'csv-stringify/sync';
import { encodeStagedChunk, type StagedRow, type Validation } from '#shared/model.ts';
import { printable } from '#shared/text.ts';
import { FileEncodingError, utf8Only } from './encoding.ts';
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

/** Where the results go, and a second read of the same object; the handler binds these to S3, tests to memory. */
export interface ValidateSinks {
  stageChunk(index: number, body: string): Promise<void>;
  openRejects(): RejectsWriter;
  /** The file again from its first byte: after an over-long record, to list the lines the parser cannot read. */
  reopen(): Promise<Readable>;
}

interface Reject {
  row: number;
  /** Physical line where the record starts (1-based, the header is line 1). */
  line: number;
  reason: string;
  raw: string;
}

/** What the parser yields, in file order: a record with its raw text, or a record it skipped (see on_skip). */
type Parsed = { record: string[]; raw: string } | { skipped: CsvError | undefined; raw: string };

const SAMPLE_SIZE = 5;
const MAX_RECORD_CHARS = 1024 * 1024;
/** The rejects file quotes at most this much of a row; the whole original is kept in rejected/ or archive/. */
const RAW_MAX_CHARS = 4096;
const MAX_STAGING_IN_FLIGHT = 4;
const LINE_BREAK = /\r\n|\r|\n/;
export const REJECTS_HEADER = 'row,line,reason,raw\n';

const csvRecords = () => {
  const parser = parse({
    bom: true,
    record_delimiter: ['\r\n', '\n', '\r'],
    skip_empty_lines: true,
    // A wrong field count becomes a per-row reject in rows.ts.
    relax_column_count: true,
    // x"y and "a"b are data. Strict mode would skip "a"b but stay inside its quote, swallowing the rows after it.
    relax_quotes: true,
    // What is left to skip: a quote still open at the end of the input, and a record over max_record_size.
    skip_records_with_error: true,
    max_record_size: MAX_RECORD_CHARS,
    raw: true,
    // on_skip runs synchronously inside the parse, so pushing here keeps skipped records in file order.
    on_skip: (skipped, raw) => {
      parser.push({ skipped, raw: raw ?? '' } satisfies Parsed);
      return undefined;
    },
  });
  return parser;
};

const lineBreaksIn = (text: string): number =>
  text.includes('\n') || text.includes('\r') ? text.split(LINE_BREAK).length - 1 : 0;

/**
 * Numbers records by the physical line they start on, from csv-parse's raw text. A record's raw text starts with
 * the blank lines skipped before it and ends with its line break, each kept as one character (the \r of \r\n);
 * line breaks inside quotes are kept whole.
 */
const lineCounter = () => {
  let next = 1;
  return (raw: string): { line: number; text: string } => {
    let blank = 0;
    while (raw[blank] === '\n' || raw[blank] === '\r') blank += 1;
    const line = next + blank;
    const ended = raw.length > blank && (raw.endsWith('\n') || raw.endsWith('\r'));
    const text = raw.slice(blank, ended ? -1 : undefined);
    next = line + lineBreaksIn(text) + (ended ? 1 : 0);
    return { line, text };
  };
};

export const validateCsv = async (
  source: Readable,
  options: ValidateOptions,
  sinks: ValidateSinks,
): Promise<Validation> => {
  let columns: Columns | undefined;
  let headerSeen = false;
  let headerReason: string | undefined;
  let tooLarge = false;
  let recordTooLarge: number | undefined;
  let rowNumber = 0;
  let validRows = 0;
  let rejectedRows = 0;
  let chunkCount = 0;
  let buffer: StagedRow[] = [];
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
    const body = encodeStagedChunk(buffer);
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
    const raw =
      entry.raw.length <= RAW_MAX_CHARS
        ? entry.raw
        : `${entry.raw.slice(0, RAW_MAX_CHARS)}… (${entry.raw.length} characters; see the original file)`;
    await rejects.write(stringify([[entry.row, entry.line, entry.reason, raw]]));
  };

  /**
   * A record the parser skipped has no fields to check. Its text may run over many lines (a quote left open
   * swallows the rest of the file), so each non-blank line is rejected as the row it would have been.
   */
  const rejectLines = async (text: string, first: number, reason: string): Promise<void> => {
    const lines = text.split(LINE_BREAK);
    for (const [offset, raw] of lines.entries()) {
      if (raw === '') continue;
      rowNumber += 1;
      await reject({ row: rowNumber, line: first + offset, reason, raw });
    }
  };

  /**
   * csv-parse cannot resume after an over-long record (it re-reads stale input), so the lines from that record's
   * first to the file's last are read again as plain lines and each non-blank one is listed as the row it would
   * have been: no row of the file goes unaccounted for.
   */
  const rejectRest = async (first: number): Promise<void> => {
    const lines = createInterface({ input: await sinks.reopen(), crlfDelay: Number.POSITIVE_INFINITY });
    let line = 0;
    for await (const raw of lines) {
      line += 1;
      if (line < first || raw === '') continue;
      rowNumber += 1;
      const reason =
        line === first
          ? `malformed CSV: the record starting on line ${first} is longer than ${MAX_RECORD_CHARS} characters (a field that large, or a quote opened there and never closed)`
          : `not read: follows the over-long record on line ${first}`;
      await reject({ row: rowNumber, line, reason, raw });
    }
  };

  const consume = async (): Promise<void> => {
    const startOf = lineCounter();
    // pipeline, unlike pipe, fails the parser (and so this loop) at once when the S3 stream fails.
    const parsed: AsyncIterable<Parsed> = pipeline(source, utf8Only(), csvRecords(), () => undefined);
    for await (const item of parsed) {
      const { line, text } = startOf(item.raw);
      if ('skipped' in item) {
        const code = item.skipped?.code;
        const problem =
          code === 'CSV_QUOTE_NOT_CLOSED'
            ? `a quote opened in the record on line ${line} is never closed`
            : code === 'CSV_MAX_RECORD_SIZE'
              ? `the record starting on line ${line} is longer than ${MAX_RECORD_CHARS} characters`
              : printable(item.skipped?.message ?? 'unreadable record');
        if (columns === undefined) {
          headerSeen = true;
          headerReason = `InvalidHeader: malformed header line: ${problem}`;
          return;
        }
        if (code === 'CSV_MAX_RECORD_SIZE') {
          recordTooLarge = line;
          source.destroy();
          await rejectRest(line);
          return;
        }
        await rejectLines(text, line, `malformed CSV: ${problem}`);
        continue;
      }
      if (columns === undefined) {
        headerSeen = true;
        const header = checkHeader(item.record);
        if (!header.ok) {
          headerReason = header.reason;
          return;
        }
        columns = header.columns;
        continue;
      }
      rowNumber += 1;
      const check = checkRow(item.record, rowNumber, columns, options.defaultTimestamp);
      if (!check.ok) {
        await reject({ row: rowNumber, line, reason: check.reason, raw: text });
        continue;
      }
      validRows += 1;
      buffer.push(check.row);
      if (buffer.length >= options.chunkRows) {
        if (chunkCount >= options.maxChunks) {
          tooLarge = true;
          return;
        }
        await stage();
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

  let encodingReason: string | undefined;
  try {
    await consume();
  } catch (error) {
    if (error instanceof FileEncodingError) {
      encodingReason = error.message;
    } else {
      // The first error is the one worth reporting; a failing clean-up must not replace it.
      await cleanUp().catch(() => undefined);
      throw error;
    }
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

  if (encodingReason !== undefined) return result(false, encodingReason);
  if (!headerSeen) return result(false, 'EmptyFile: the file has no header row');
  if (headerReason !== undefined) return result(false, headerReason);
  if (recordTooLarge !== undefined) {
    return result(
      false,
      `RecordTooLarge: the record starting on line ${recordTooLarge} is longer than ${MAX_RECORD_CHARS} characters (a field that large, or a quote opened there and never closed); it and every line after it are listed in the rejects file`,
    );
  }
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
