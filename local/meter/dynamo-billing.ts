/**
 * DynamoDB on-demand capacity, counted the way DynamoDB counts it. Pure: items in, units out.
 * Rules: DynamoDB developer guide, "Item sizes and formats", "Capacity unit consumption for write/read
 * operations" and "Global secondary indexes: provisioned throughput considerations".
 */
import { createHash } from 'node:crypto';
import type { AttributeValue } from '@aws-sdk/client-dynamodb';

export type Item = Record<string, AttributeValue>;

export interface IndexSchema {
  name: string;
  hashKey: string;
  rangeKey?: string;
  projection: { type: 'ALL' | 'KEYS_ONLY' | 'INCLUDE'; nonKeyAttributes?: string[] };
}

export interface TableSchema {
  hashKey: string;
  rangeKey?: string;
  globalIndexes: IndexSchema[];
}

export const KB = 1024;

/** A value DynamoDB would reject: a malformed number or an attribute type this SDK does not know. */
export class InvalidAttributeValueError extends Error {
  override name = 'InvalidAttributeValueError';
}

const utf8 = (text: string): number => Buffer.byteLength(text, 'utf8');
const sum = (values: number[]): number => values.reduce((total, value) => total + value, 0);

/** A number as DynamoDB stores it: significant digits and the power of ten of the last one. */
const parseNumber = (text: string): { negative: boolean; digits: string; exponent: number } => {
  const match = /^([+-]?)(\d*)(?:\.(\d*))?(?:[eE]([+-]?\d+))?$/.exec(text);
  const [, sign = '', whole = '', fraction = '', exponent = '0'] = match ?? [];
  if (match === null || whole + fraction === '') {
    throw new InvalidAttributeValueError(`Not a number: ${text}`);
  }
  const significant = (whole + fraction).replace(/^0+/, '');
  const digits = significant.replace(/0+$/, '');
  return {
    negative: sign === '-' && digits !== '',
    digits,
    exponent: Number(exponent) - fraction.length + (significant.length - digits.length),
  };
};

// "1 byte per two significant digits, plus 1 byte"; leading and trailing zeros are trimmed, so 0 is 1 byte.
const numberBytes = (text: string): number => Math.ceil(parseNumber(text).digits.length / 2) + 1;

const numberIdentity = (text: string): string => {
  const { negative, digits, exponent } = parseNumber(text);
  return digits === '' ? '0' : `${negative ? '-' : ''}${digits}e${exponent}`;
};

// A List or Map costs 3 bytes whatever its contents, plus 1 byte per element.
const containerBytes = (elementBytes: number[]): number => 3 + sum(elementBytes) + elementBytes.length;

export const attributeBytes = (value: AttributeValue): number => {
  if (value.S !== undefined) return utf8(value.S);
  if (value.N !== undefined) return numberBytes(value.N);
  if (value.B !== undefined) return value.B.byteLength;
  if (value.BOOL !== undefined || value.NULL !== undefined) return 1;
  if (value.SS !== undefined) return sum(value.SS.map(utf8));
  if (value.NS !== undefined) return sum(value.NS.map(numberBytes));
  if (value.BS !== undefined) return sum(value.BS.map((bytes) => bytes.byteLength));
  if (value.L !== undefined) return containerBytes(value.L.map(attributeBytes));
  if (value.M !== undefined) {
    return containerBytes(
      Object.entries(value.M).map(([key, element]) => utf8(key) + attributeBytes(element)),
    );
  }
  throw new InvalidAttributeValueError(`Unknown attribute type: ${JSON.stringify(Object.keys(value))}`);
};

export const itemBytes = (item: Item): number =>
  sum(Object.entries(item).map(([name, value]) => utf8(name) + attributeBytes(value)));

const byName = ([a]: [string, unknown], [b]: [string, unknown]): number => (a < b ? -1 : a > b ? 1 : 0);
const bytesIdentity = (bytes: Uint8Array): string => Buffer.from(bytes).toString('base64');

/** Equal values give equal strings: numbers by value (`1.50` is `1.5`), sets and maps without order. */
const identity = (value: AttributeValue): string => {
  if (value.S !== undefined) return `S${JSON.stringify(value.S)}`;
  if (value.N !== undefined) return `N${numberIdentity(value.N)}`;
  if (value.B !== undefined) return `B${bytesIdentity(value.B)}`;
  if (value.BOOL !== undefined) return `BOOL${value.BOOL}`;
  if (value.NULL !== undefined) return 'NULL';
  if (value.SS !== undefined) return `SS${JSON.stringify([...value.SS].sort())}`;
  if (value.NS !== undefined) return `NS${JSON.stringify(value.NS.map(numberIdentity).sort())}`;
  if (value.BS !== undefined) return `BS${JSON.stringify(value.BS.map(bytesIdentity).sort())}`;
  if (value.L !== undefined) return `L${JSON.stringify(value.L.map(identity))}`;
  if (value.M !== undefined) return `M${itemIdentity(value.M)}`;
  throw new InvalidAttributeValueError(`Unknown attribute type: ${JSON.stringify(Object.keys(value))}`);
};

const itemIdentity = (item: Item): string =>
  JSON.stringify(
    Object.entries(item)
      .sort(byName)
      .map(([name, value]) => [name, identity(value)]),
  );

const pick = (item: Item, names: (string | undefined)[]): Item =>
  Object.fromEntries(Object.entries(item).filter(([name]) => names.includes(name)));

const indexKeys = (index: IndexSchema): (string | undefined)[] => [index.hashKey, index.rangeKey];

export const indexEntryOf = (
  table: TableSchema,
  index: IndexSchema,
  item: Item | undefined,
): Item | undefined => {
  if (item === undefined || item[index.hashKey] === undefined) return undefined;
  if (index.rangeKey !== undefined && item[index.rangeKey] === undefined) return undefined;
  const { type, nonKeyAttributes = [] } = index.projection;
  if (type === 'ALL') return item;
  // Every index entry carries the table's key and its own key; INCLUDE adds the listed attributes.
  const projected = type === 'INCLUDE' ? nonKeyAttributes : [];
  return pick(item, [table.hashKey, table.rangeKey, ...indexKeys(index), ...projected]);
};

const unitsOf = (bytes: number): number => Math.max(1, Math.ceil(bytes / KB));

/**
 * What billing needs to know of an item, without the item: its size, and per index it appears in, the
 * entry's key, size and a digest of its contents. The meter keeps one per item it has seen written.
 */
export interface Footprint {
  bytes: number;
  indexes: Record<string, { keys: string; bytes: number; digest: string }>;
}

const digest = (item: Item): string => createHash('sha1').update(itemIdentity(item)).digest('base64');

export const footprintOf = (table: TableSchema, item: Item): Footprint => {
  const indexes: Footprint['indexes'] = {};
  for (const index of table.globalIndexes) {
    const entry = indexEntryOf(table, index, item);
    if (entry === undefined) continue;
    indexes[index.name] = {
      keys: itemIdentity(pick(entry, indexKeys(index))),
      bytes: itemBytes(entry),
      digest: digest(entry),
    };
  }
  return { bytes: itemBytes(item), indexes };
};

export interface WriteCharge {
  table: number;
  indexes: Record<string, number>;
  total: number;
}

export interface WriteChange {
  before?: Item;
  after?: Item;
  transactional?: boolean;
  conditionFailed?: boolean;
}

export interface FootprintChange {
  before?: Footprint;
  after?: Footprint;
  transactional?: boolean;
  conditionFailed?: boolean;
}

const indexWriteUnits = (name: string, change: FootprintChange): number => {
  const before = change.before?.indexes[name];
  const after = change.after?.indexes[name];
  if (before === undefined) return after === undefined ? 0 : unitsOf(after.bytes);
  if (after === undefined) return unitsOf(before.bytes);
  // A new index key moves the entry: DynamoDB deletes the old one and puts the new one.
  if (before.keys !== after.keys) return unitsOf(before.bytes) + unitsOf(after.bytes);
  return before.digest === after.digest ? 0 : unitsOf(after.bytes);
};

/** The write units of one item's change, from footprints (the meter's view of the table). */
export const writeUnitsOf = (table: TableSchema, change: FootprintChange): WriteCharge => {
  const factor = change.transactional ? 2 : 1;
  const before = change.before?.bytes ?? 0;
  const after = change.after?.bytes ?? 0;
  // A failed condition writes nothing: the table is billed for the item it read, no index is touched.
  const tableUnits = change.conditionFailed ? unitsOf(before) : unitsOf(Math.max(before, after));
  const indexes = Object.fromEntries(
    table.globalIndexes.map((index) => [
      index.name,
      change.conditionFailed ? 0 : factor * indexWriteUnits(index.name, change),
    ]),
  );
  const tableCharge = factor * tableUnits;
  return { table: tableCharge, indexes, total: tableCharge + sum(Object.values(indexes)) };
};

/** The write units of one item's change, from its before and after images. */
export const writeUnits = (table: TableSchema, change: WriteChange): WriteCharge =>
  writeUnitsOf(table, {
    ...(change.before === undefined ? {} : { before: footprintOf(table, change.before) }),
    ...(change.after === undefined ? {} : { after: footprintOf(table, change.after) }),
    ...(change.transactional === undefined ? {} : { transactional: change.transactional }),
    ...(change.conditionFailed === undefined ? {} : { conditionFailed: change.conditionFailed }),
  });

export type ReadMode = { consistent: boolean; transactional?: boolean };

const readUnitsOf = (bytes: number, mode: ReadMode): number => {
  const units = Math.max(1, Math.ceil(bytes / (4 * KB)));
  // Transactional reads are always strongly consistent, at twice the price.
  if (mode.transactional) return 2 * units;
  return mode.consistent ? units : units / 2;
};

/** GetItem, and each key of BatchGetItem: an absent item still costs the minimum. */
export const getReadUnits = (bytes: number | undefined, mode: ReadMode): number =>
  readUnitsOf(bytes ?? 0, mode);

/** One Query or Scan page: the items' sizes are summed, then rounded up to 4 KB once. */
export const queryReadUnits = (sizes: number[], mode: ReadMode): number => readUnitsOf(sum(sizes), mode);
