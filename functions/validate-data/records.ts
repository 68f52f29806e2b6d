// CSV records (RFC 4180: comma-separated, "quoted" fields with "" escapes and embedded line breaks) read from a
// byte stream with bounded memory. Unlike csv-parse's skip_records_with_error, which stays inside a broken
// quote and swallows the rows after it, a record that does not parse is rejected one physical line at a time
// and the lines after that line are read again, so one stray quote costs one row, with exact row numbers.

export type CsvRecord =
  | { ok: true; fields: string[]; line: number; raw: string }
  | { ok: false; reason: string; line: number; raw: string };

export type FieldsResult = { ok: true; fields: string[] } | { ok: false; reason: string };

interface PhysicalLine {
  text: string;
  /** The terminator as found (\r\n, \n or \r), kept because it is part of a quoted value spanning lines. */
  end: string;
  number: number;
  oversize: boolean;
}

/** How much of an over-long line the rejects file keeps. */
const OVERSIZE_SAMPLE = 200;
const TERMINATOR = /\r\n|\r|\n/g;

/** Splits one logical record (terminators inside quotes included, final terminator excluded) into fields. */
export const parseFields = (text: string): FieldsResult => {
  if (!text.includes('"')) return { ok: true, fields: text.split(',') };
  const fields: string[] = [];
  let at = 0;
  for (;;) {
    if (text[at] === '"') {
      let value = '';
      at += 1;
      for (;;) {
        const quote = text.indexOf('"', at);
        if (quote === -1) return { ok: false, reason: `quoted field ${fields.length + 1} is not closed` };
        value += text.slice(at, quote);
        if (text[quote + 1] === '"') {
          value += '"';
          at = quote + 2;
        } else {
          at = quote + 1;
          break;
        }
      }
      fields.push(value);
      if (at === text.length) return { ok: true, fields };
      if (text[at] !== ',') {
        return {
          ok: false,
          reason: `unexpected character after the closing quote of field ${fields.length}`,
        };
      }
      at += 1;
    } else {
      const comma = text.indexOf(',', at);
      const value = text.slice(at, comma === -1 ? text.length : comma);
      if (value.includes('"'))
        return { ok: false, reason: `quote inside unquoted field ${fields.length + 1}` };
      fields.push(value);
      if (comma === -1) return { ok: true, fields };
      at = comma + 1;
    }
  }
};

const hasOddQuotes = (text: string): boolean => {
  let odd = false;
  for (let at = text.indexOf('"'); at !== -1; at = text.indexOf('"', at + 1)) odd = !odd;
  return odd;
};

/** Physical lines from text chunks; a line longer than maxChars is cut to a sample and flagged, never buffered. */
const lineSplitter = (maxChars: number, onLine: (line: PhysicalLine) => void) => {
  let carry = '';
  let oversize = false;
  let number = 0;
  // A chunk that ends in \r may be half of a \r\n: the line is emitted at once and fixed up by the next chunk.
  let endedInCr: PhysicalLine | undefined;

  const take = (tail: string, end: string): PhysicalLine => {
    number += 1;
    const tooLong = oversize || carry.length + tail.length > maxChars;
    const text = tooLong ? (carry + tail.slice(0, OVERSIZE_SAMPLE)).slice(0, OVERSIZE_SAMPLE) : carry + tail;
    carry = '';
    oversize = false;
    const line = { text, end, number, oversize: tooLong };
    onLine(line);
    return line;
  };

  const hold = (rest: string): void => {
    if (oversize) return;
    if (carry.length + rest.length > maxChars) {
      carry = (carry + rest.slice(0, OVERSIZE_SAMPLE)).slice(0, OVERSIZE_SAMPLE);
      oversize = true;
      return;
    }
    carry += rest;
  };

  return {
    push(text: string): void {
      let from = 0;
      if (endedInCr !== undefined && text.startsWith('\n')) {
        endedInCr.end = '\r\n';
        from = 1;
      }
      endedInCr = undefined;
      TERMINATOR.lastIndex = from;
      for (let match = TERMINATOR.exec(text); match !== null; match = TERMINATOR.exec(text)) {
        const line = take(text.slice(from, match.index), match[0]);
        from = match.index + match[0].length;
        if (match[0] === '\r' && from === text.length) endedInCr = line;
      }
      hold(text.slice(from));
    },
    end(): void {
      if (carry !== '' || oversize) take('', '');
    },
  };
};

/** Logical records from physical lines: a record continues while a quoted field is open (odd quote count). */
const recordAssembler = (maxChars: number, emit: (record: CsvRecord) => void) => {
  let pending: PhysicalLine[] = [];
  let open = false;
  let size = 0;
  // Lines to read (again): the last element is read next.
  const stack: PhysicalLine[] = [];

  const takePending = (): PhysicalLine[] => {
    const lines = pending;
    pending = [];
    open = false;
    size = 0;
    return lines;
  };

  /** Rejects the first line on its own and queues the lines after it to be read again as new records. */
  const rejectFirstLine = ([first, ...rest]: PhysicalLine[], fallbackReason: string): void => {
    if (first === undefined) return;
    const alone = parseFields(first.text);
    emit({
      ok: false,
      reason: alone.ok ? fallbackReason : alone.reason,
      line: first.number,
      raw: first.text,
    });
    for (let i = rest.length - 1; i >= 0; i -= 1) {
      const line = rest[i];
      if (line !== undefined) stack.push(line);
    }
  };

  const finish = (lines: PhysicalLine[]): void => {
    const first = lines[0];
    if (first === undefined) return;
    const raw = lines.map((line, i) => (i === lines.length - 1 ? line.text : line.text + line.end)).join('');
    const parsed = parseFields(raw);
    if (parsed.ok) emit({ ok: true, fields: parsed.fields, line: first.number, raw });
    else if (lines.length === 1) emit({ ok: false, reason: parsed.reason, line: first.number, raw });
    else rejectFirstLine(lines, parsed.reason);
  };

  const read = (line: PhysicalLine): void => {
    if (line.oversize) {
      if (pending.length > 0) {
        // The open record cannot continue past a line that was cut; read the line after the replay.
        stack.push(line);
        rejectFirstLine(takePending(), 'quoted field is not closed');
        return;
      }
      emit({
        ok: false,
        reason: `line longer than ${maxChars} characters`,
        line: line.number,
        raw: line.text,
      });
      return;
    }
    if (pending.length === 0 && line.text === '') return; // blank lines are not rows
    pending.push(line);
    size += line.text.length + line.end.length;
    if (hasOddQuotes(line.text)) open = !open;
    if (!open) finish(takePending());
    else if (size > maxChars)
      rejectFirstLine(takePending(), `quoted field is not closed within ${maxChars} characters`);
  };

  const drain = (): void => {
    for (let line = stack.pop(); line !== undefined; line = stack.pop()) read(line);
  };

  return {
    add(line: PhysicalLine): void {
      stack.push(line);
      drain();
    },
    end(): void {
      while (pending.length > 0) {
        rejectFirstLine(takePending(), 'quoted field is not closed at the end of the file');
        drain();
      }
    },
  };
};

export interface ReadCsvOptions {
  /** Longest record, in characters; longer lines and records are rejected, never buffered. */
  maxRecordChars: number;
}

/**
 * Reads CSV records from a stream of UTF-8 bytes (a leading BOM is dropped), in batches, one per chunk read.
 * Accepts \r\n, \n and \r line endings, mixed; skips blank lines. `line` is where a record starts (1-based).
 */
export async function* readCsvRecords(
  source: AsyncIterable<Uint8Array | string>,
  options: ReadCsvOptions,
): AsyncGenerator<CsvRecord[]> {
  let batch: CsvRecord[] = [];
  const records = recordAssembler(options.maxRecordChars, (record) => batch.push(record));
  const lines = lineSplitter(options.maxRecordChars, (line) => records.add(line));
  const decoder = new TextDecoder('utf-8');
  let first = true;
  for await (const chunk of source) {
    let text = typeof chunk === 'string' ? chunk : decoder.decode(chunk, { stream: true });
    if (first && text.startsWith('\uFEFF')) text = text.slice(1);
    if (text !== '') first = false;
    lines.push(text);
    if (batch.length > 0) {
      yield batch;
      batch = [];
    }
  }
  lines.push(decoder.decode());
  lines.end();
  records.end();
  if (batch.length > 0) yield batch;
}
