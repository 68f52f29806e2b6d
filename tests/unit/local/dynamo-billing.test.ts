import { describe, expect, it } from 'vitest';
import {
  attributeBytes,
  getReadUnits,
  type IndexSchema,
  InvalidAttributeValueError,
  type Item,
  indexEntryOf,
  itemBytes,
  KB,
  queryReadUnits,
  type TableSchema,
  writeUnits,
} from '../../../local/meter/dynamo-billing.ts';

const keys: Item = { pk: { S: 'USER#1' }, sk: { S: 'EVENT#1' } };
const groupKeys: Item = { gpk: { S: 'GROUP#a' }, gsk: { S: '2024' } };

const byGroup = (projection: IndexSchema['projection']): IndexSchema => ({
  name: 'byGroup',
  hashKey: 'gpk',
  rangeKey: 'gsk',
  projection,
});
const tableWith = (index: IndexSchema): TableSchema => ({
  hashKey: 'pk',
  rangeKey: 'sk',
  globalIndexes: [index],
});
const allTable = tableWith(byGroup({ type: 'ALL' }));

/** An item of exactly `bytes` bytes: the attributes given plus a string `pad` that makes up the rest. */
const sized = (bytes: number, attributes: Item = {}): Item => {
  const padding = bytes - itemBytes(attributes) - 'pad'.length;
  if (padding < 0) throw new Error(`${bytes} bytes cannot hold ${JSON.stringify(attributes)}`);
  return { ...attributes, pad: { S: 'x'.repeat(padding) } };
};

describe('attributeBytes', () => {
  it('counts a string in UTF-8 bytes', () => {
    // h e l l o are 1 byte each, é is 2: 6
    expect(attributeBytes({ S: 'héllo' })).toBe(6);
  });

  it('counts a number as 1 byte per two significant digits plus 1', () => {
    // 12345: 5 digits, ceil(5 / 2) + 1 = 4
    expect(attributeBytes({ N: '12345' })).toBe(4);
  });

  it('counts zero as no significant digits', () => {
    // 0 and -0: 0 digits, ceil(0 / 2) + 1 = 1
    expect(attributeBytes({ N: '0' })).toBe(1);
    expect(attributeBytes({ N: '-0' })).toBe(1);
  });

  it('drops the sign, the decimal point and leading and trailing zeros', () => {
    // -0.00120 → 000120 → 12: 2 digits, ceil(2 / 2) + 1 = 2
    expect(attributeBytes({ N: '-0.00120' })).toBe(2);
    // 1000 → 1: 1 digit, ceil(1 / 2) + 1 = 2
    expect(attributeBytes({ N: '1000' })).toBe(2);
  });

  it('ignores the exponent', () => {
    // 1.5E+3 → 15: 2 digits, ceil(2 / 2) + 1 = 2
    expect(attributeBytes({ N: '1.5E+3' })).toBe(2);
  });

  it('counts the largest precision, 38 digits, as 20 bytes', () => {
    // 38 digits, ceil(38 / 2) + 1 = 20
    expect(attributeBytes({ N: '12345678901234567890123456789012345678' })).toBe(20);
  });

  it('rejects a malformed number', () => {
    expect(() => attributeBytes({ N: '1.2.3' })).toThrow(InvalidAttributeValueError);
  });

  it('counts binary as its raw bytes', () => {
    // 5 bytes
    expect(attributeBytes({ B: new Uint8Array([0, 1, 2, 3, 255]) })).toBe(5);
  });

  it('counts a boolean and a null as 1 byte', () => {
    expect(attributeBytes({ BOOL: false })).toBe(1);
    expect(attributeBytes({ NULL: true })).toBe(1);
  });

  it('counts a set as the sum of its members', () => {
    // SS: a (1) + bcd (3) = 4
    expect(attributeBytes({ SS: ['a', 'bcd'] })).toBe(4);
    // NS: 1 → 1 + 1 = 2, 22 → 1 + 1 = 2, 333 → 2 + 1 = 3; 2 + 2 + 3 = 7
    expect(attributeBytes({ NS: ['1', '22', '333'] })).toBe(7);
    // BS: 2 + 3 = 5
    expect(attributeBytes({ BS: [new Uint8Array(2), new Uint8Array(3)] })).toBe(5);
  });

  it('counts a list as 3 bytes plus each element and 1 byte per element', () => {
    // 3 + (ab: 2 + 1) + (7: 2 + 1) = 9
    expect(attributeBytes({ L: [{ S: 'ab' }, { N: '7' }] })).toBe(9);
    expect(attributeBytes({ L: [] })).toBe(3);
  });

  it("counts a map as 3 bytes plus each element's key and value and 1 byte per element", () => {
    // 3 + (a: 1 + xyz: 3 + 1) + (bb: 2 + true: 1 + 1) = 3 + 5 + 4 = 12
    expect(attributeBytes({ M: { a: { S: 'xyz' }, bb: { BOOL: true } } })).toBe(12);
    expect(attributeBytes({ M: {} })).toBe(3);
  });

  it('counts nested containers recursively', () => {
    // outer map: 3 + (k: 1 + inner list + 1); inner list: 3 + (x: 1 + 1) = 5; 3 + 1 + 5 + 1 = 10
    expect(attributeBytes({ M: { k: { L: [{ S: 'x' }] } } })).toBe(10);
  });
});

describe('itemBytes', () => {
  it('adds each attribute name in UTF-8 bytes to its value', () => {
    // id (2) + u-1 (3) = 5; größe (g r e: 3, ö ß: 2 + 2 = 7) + 42 (ceil(2 / 2) + 1 = 2) = 9; 5 + 9 = 14
    expect(itemBytes({ id: { S: 'u-1' }, größe: { N: '42' } })).toBe(14);
  });

  it('is exact for the padded test items', () => {
    expect(itemBytes(sized(1536, { ...keys, ...groupKeys }))).toBe(1536);
  });
});

describe('indexEntryOf', () => {
  it('has no entry for an item without the index hash key (sparse index)', () => {
    expect(indexEntryOf(allTable, byGroup({ type: 'ALL' }), { ...keys, gsk: { S: '2024' } })).toBeUndefined();
  });

  it('has no entry for an item without the index range key', () => {
    expect(
      indexEntryOf(allTable, byGroup({ type: 'ALL' }), { ...keys, gpk: { S: 'GROUP#a' } }),
    ).toBeUndefined();
  });

  it('has no entry for an absent item', () => {
    expect(indexEntryOf(allTable, byGroup({ type: 'ALL' }), undefined)).toBeUndefined();
  });

  it('projects the whole item with ALL', () => {
    const item = { ...keys, ...groupKeys, note: { S: 'kept' } };

    expect(indexEntryOf(allTable, byGroup({ type: 'ALL' }), item)).toEqual(item);
  });

  it('projects the table and index keys with KEYS_ONLY', () => {
    const index = byGroup({ type: 'KEYS_ONLY' });

    expect(indexEntryOf(tableWith(index), index, { ...keys, ...groupKeys, note: { S: 'dropped' } })).toEqual({
      ...keys,
      ...groupKeys,
    });
  });

  it('adds the listed attributes the item has with INCLUDE', () => {
    const index = byGroup({ type: 'INCLUDE', nonKeyAttributes: ['score', 'absent'] });
    const item = { ...keys, ...groupKeys, score: { N: '7' }, note: { S: 'dropped' } };

    expect(indexEntryOf(tableWith(index), index, item)).toEqual({ ...keys, ...groupKeys, score: { N: '7' } });
  });
});

describe('writeUnits', () => {
  it('bills a new 300-byte item without index keys 1 unit and no index write', () => {
    // table: ceil(300 / 1024) = 1; byGroup: no entry after, none before = 0
    expect(writeUnits(allTable, { after: sized(300, keys) })).toEqual({
      table: 1,
      indexes: { byGroup: 0 },
      total: 1,
    });
  });

  it('bills a PutItem replacing an item on the larger of the two', () => {
    // max(900, 1100) = 1100; ceil(1100 / 1024) = 2
    expect(writeUnits(allTable, { before: sized(900, keys), after: sized(1100, keys) }).total).toBe(2);
  });

  it('bills an update with unchanged index keys as one index put of the new entry (ALL)', () => {
    const before = sized(1536, { ...keys, ...groupKeys }); // 1.5 KB
    const after = sized(2250, { ...keys, ...groupKeys }); // 2.2 KB

    // table: ceil(2250 / 1024) = 3; byGroup: entry = whole item, ceil(2250 / 1024) = 3; 3 + 3 = 6
    expect(writeUnits(allTable, { before, after })).toEqual({ table: 3, indexes: { byGroup: 3 }, total: 6 });
  });

  it('bills an update that changes the index hash key as an index delete plus an index put', () => {
    const before = sized(1536, { ...keys, ...groupKeys });
    const after = sized(2250, { ...keys, ...groupKeys, gpk: { S: 'GROUP#b' } });

    // table: 3; byGroup: delete old ceil(1536 / 1024) = 2 + put new ceil(2250 / 1024) = 3 = 5; 3 + 5 = 8
    expect(writeUnits(allTable, { before, after })).toEqual({ table: 3, indexes: { byGroup: 5 }, total: 8 });
  });

  it('bills no index write when nothing the index projects changed (KEYS_ONLY)', () => {
    const index = byGroup({ type: 'KEYS_ONLY' });
    const before = sized(1536, { ...keys, ...groupKeys });
    const after = sized(2250, { ...keys, ...groupKeys });

    // table: 3; byGroup: entry pk + sk + gpk + gsk is the same before and after = 0
    expect(writeUnits(tableWith(index), { before, after })).toEqual({
      table: 3,
      indexes: { byGroup: 0 },
      total: 3,
    });
  });

  it('bills an index put of the new entry when a projected attribute changed (INCLUDE)', () => {
    const index = byGroup({ type: 'INCLUDE', nonKeyAttributes: ['score'] });
    const before = { ...keys, ...groupKeys, score: { N: '7' } };
    const after = { ...keys, ...groupKeys, score: { N: '8' } };

    // entry: pk (2 + 6) + sk (2 + 7) + gpk (3 + 7) + gsk (3 + 4) + score (5 + 2) = 41 bytes, ceil(41 / 1024) = 1
    expect(writeUnits(tableWith(index), { before, after }).indexes).toEqual({ byGroup: 1 });
  });

  it('compares numbers by value, so rewriting 1.50 as 1.5 leaves the index entry unchanged', () => {
    const before = { ...keys, ...groupKeys, price: { N: '1.50' } };
    const after = { ...keys, ...groupKeys, price: { N: '1.5' } };

    // the table is still written: 1; byGroup (ALL): same entry = 0
    expect(writeUnits(allTable, { before, after })).toEqual({ table: 1, indexes: { byGroup: 0 }, total: 1 });
  });

  it('compares sets without order, so reordering a string set leaves the index entry unchanged', () => {
    const before = { ...keys, ...groupKeys, tags: { SS: ['a', 'b'] } };
    const after = { ...keys, ...groupKeys, tags: { SS: ['b', 'a'] } };

    // the table is still written: 1; byGroup (ALL): same entry = 0
    expect(writeUnits(allTable, { before, after }).indexes).toEqual({ byGroup: 0 });
  });

  it('bills an index put when an update gives the item the index keys', () => {
    const before = sized(500, keys);
    const after = sized(1500, { ...keys, ...groupKeys });

    // table: ceil(1500 / 1024) = 2; byGroup: put ceil(1500 / 1024) = 2; 2 + 2 = 4
    expect(writeUnits(allTable, { before, after })).toEqual({ table: 2, indexes: { byGroup: 2 }, total: 4 });
  });

  it('bills an index delete when an update takes the index keys away', () => {
    const before = sized(2500, { ...keys, ...groupKeys });
    const after = sized(600, keys);

    // table: ceil(2500 / 1024) = 3; byGroup: delete ceil(2500 / 1024) = 3; 3 + 3 = 6
    expect(writeUnits(allTable, { before, after })).toEqual({ table: 3, indexes: { byGroup: 3 }, total: 6 });
  });

  it('bills a DeleteItem on the size of the deleted item', () => {
    // ceil(2500 / 1024) = 3
    expect(writeUnits(allTable, { before: sized(2500, keys) }).total).toBe(3);
  });

  it('bills a DeleteItem of an absent item 1 unit', () => {
    expect(writeUnits(allTable, {}).total).toBe(1);
  });

  it('bills a failed conditional update on the existing item only', () => {
    const before = sized(2560, { ...keys, ...groupKeys }); // 2.5 KB
    const after = sized(4000, { ...keys, ...groupKeys, gpk: { S: 'GROUP#b' } });

    // table: ceil(2560 / 1024) = 3; nothing is written, so no index is touched
    expect(writeUnits(allTable, { before, after, conditionFailed: true })).toEqual({
      table: 3,
      indexes: { byGroup: 0 },
      total: 3,
    });
  });

  it('bills a failed conditional update on an absent item 1 unit', () => {
    const after = sized(4000, { ...keys, ...groupKeys });

    // table: ceil(0 / 1024) = 0, at least 1
    expect(writeUnits(allTable, { after, conditionFailed: true }).total).toBe(1);
  });

  it('doubles every unit of a transactional write', () => {
    const after = sized(1536, { ...keys, ...groupKeys });

    // table: ceil(1536 / 1024) = 2; byGroup: 2; (2 + 2) × 2 = 8
    expect(writeUnits(allTable, { after, transactional: true })).toEqual({
      table: 4,
      indexes: { byGroup: 4 },
      total: 8,
    });
  });
});

describe('getReadUnits', () => {
  const fiveKb = 5 * KB; // 5120 bytes

  it('bills a strongly consistent read 1 unit per 4 KB', () => {
    // ceil(5120 / 4096) = 2
    expect(getReadUnits(fiveKb, { consistent: true })).toBe(2);
  });

  it('bills an eventually consistent read half', () => {
    // 2 / 2 = 1
    expect(getReadUnits(fiveKb, { consistent: false })).toBe(1);
  });

  it('bills a transactional read twice a strongly consistent one', () => {
    // 2 × 2 = 4
    expect(getReadUnits(fiveKb, { consistent: true, transactional: true })).toBe(4);
  });

  it('bills an absent item the minimum', () => {
    expect(getReadUnits(undefined, { consistent: false })).toBe(0.5);
    expect(getReadUnits(undefined, { consistent: true })).toBe(1);
  });

  it('bills a tiny item the minimum', () => {
    // ceil(100 / 4096) = 1
    expect(getReadUnits(100, { consistent: true })).toBe(1);
  });
});

describe('queryReadUnits', () => {
  const page = [1536, 1536, 1536]; // three 1.5 KB items, 4608 bytes

  it('rounds the summed page up to 4 KB once', () => {
    // ceil(4608 / 4096) = 2, where three GetItems would bill 3
    expect(queryReadUnits(page, { consistent: true })).toBe(2);
  });

  it('bills an eventually consistent page half', () => {
    // 2 / 2 = 1
    expect(queryReadUnits(page, { consistent: false })).toBe(1);
  });

  it('bills an empty page the minimum', () => {
    expect(queryReadUnits([], { consistent: false })).toBe(0.5);
  });
});
