import type { DynamoDBRecord, DynamoDBStreamEvent } from 'aws-lambda';
import { describe, expect, it } from 'vitest';
import { compileFilters, matchesPattern } from '../../../local/event-pattern.ts';
import { functionsOf } from '../../../local/template.ts';
import { loadEvent } from '../../helpers/events.ts';
import { loadTemplate } from '../../helpers/template.ts';

type Pattern = Parameters<typeof matchesPattern>[0];

const matches = (pattern: Pattern, event: unknown): boolean => matchesPattern(pattern, event);

describe('exact values', () => {
  it('matches a field equal to one of the listed values', () => {
    expect(matches({ state: ['running'] }, { state: 'running' })).toBe(true);
  });

  it('treats the listed values as alternatives', () => {
    const pattern = { state: ['pending', 'running'] };

    expect(matches(pattern, { state: 'pending' })).toBe(true);
    expect(matches(pattern, { state: 'running' })).toBe(true);
    expect(matches(pattern, { state: 'stopped' })).toBe(false);
  });

  it('requires every field of the pattern to match', () => {
    const pattern = { source: ['aws.s3'], state: ['running'] };

    expect(matches(pattern, { source: 'aws.s3', state: 'running' })).toBe(true);
    expect(matches(pattern, { source: 'aws.s3', state: 'stopped' })).toBe(false);
  });

  it('ignores fields the pattern does not name', () => {
    expect(matches({ state: ['running'] }, { state: 'running', other: 'anything' })).toBe(true);
  });

  it('tells strings from numbers, booleans and null', () => {
    expect(matches({ count: [5] }, { count: 5 })).toBe(true);
    expect(matches({ count: ['5'] }, { count: 5 })).toBe(false);
    expect(matches({ flag: [true] }, { flag: true })).toBe(true);
    expect(matches({ flag: ['true'] }, { flag: true })).toBe(false);
    expect(matches({ gone: [null] }, { gone: null })).toBe(true);
  });

  it('does not match a field that is missing', () => {
    expect(matches({ state: ['running'] }, {})).toBe(false);
    expect(matches({ gone: [null] }, {})).toBe(false);
  });
});

describe('nested objects', () => {
  it('follows the nesting of the event', () => {
    const pattern = { detail: { state: ['running'] } };

    expect(matches(pattern, { detail: { state: 'running' } })).toBe(true);
    expect(matches(pattern, { detail: { state: 'stopped' } })).toBe(false);
    expect(matches(pattern, { state: 'running' })).toBe(false);
  });

  it('does not match an object where the pattern expects a value', () => {
    expect(matches({ detail: ['running'] }, { detail: { state: 'running' } })).toBe(false);
  });

  it('does not match a value where the pattern expects an object', () => {
    expect(matches({ detail: { state: ['running'] } }, { detail: 'running' })).toBe(false);
  });
});

describe('array-valued fields', () => {
  it('match when any element equals any listed value', () => {
    const pattern = { resources: ['arn:b', 'arn:z'] };

    expect(matches(pattern, { resources: ['arn:a', 'arn:b'] })).toBe(true);
    expect(matches(pattern, { resources: ['arn:a', 'arn:c'] })).toBe(false);
  });

  it('match an operator against each element', () => {
    expect(matches({ tags: [{ prefix: 'env:' }] }, { tags: ['team:a', 'env:prod'] })).toBe(true);
  });

  it('match a nested pattern against the objects of an array', () => {
    const event = { employees: [{ first: 'John' }, { first: 'Anna' }] };

    expect(matches({ employees: { first: ['Anna'] } }, event)).toBe(true);
    expect(matches({ employees: { first: ['Peter'] } }, event)).toBe(false);
  });

  it('take all fields of a nested pattern from the same element', () => {
    const event = {
      employees: [
        { first: 'John', last: 'Doe' },
        { first: 'Anna', last: 'Smith' },
      ],
    };

    expect(matches({ employees: { first: ['Anna'], last: ['Smith'] } }, event)).toBe(true);
    expect(matches({ employees: { first: ['Anna'], last: ['Doe'] } }, event)).toBe(false);
  });
});

describe('string operators', () => {
  it('prefix matches strings that start with it', () => {
    const pattern = { key: [{ prefix: 'uploads/' }] };

    expect(matches(pattern, { key: 'uploads/a.csv' })).toBe(true);
    expect(matches(pattern, { key: 'archive/uploads/a.csv' })).toBe(false);
  });

  it('suffix matches strings that end with it', () => {
    const pattern = { key: [{ suffix: '.csv' }] };

    expect(matches(pattern, { key: 'uploads/a.csv' })).toBe(true);
    expect(matches(pattern, { key: 'uploads/a.csv.gz' })).toBe(false);
  });

  it('wildcard matches any run of characters at each star, and only there', () => {
    const pattern = { key: [{ wildcard: 'uploads/*/data.*' }] };

    expect(matches(pattern, { key: 'uploads/2026/03/data.csv' })).toBe(true);
    expect(matches(pattern, { key: 'uploads/2026/data.csv' })).toBe(true);
    expect(matches(pattern, { key: 'uploads/2026/data' })).toBe(false);
    expect(matches(pattern, { key: 'other/2026/data.csv' })).toBe(false);
    expect(matches(pattern, { key: 'old/uploads/2026/data.csv' })).toBe(false);
  });

  it('wildcard treats regular-expression characters literally', () => {
    const pattern = { key: [{ wildcard: 'a.b*' }] };

    expect(matches(pattern, { key: 'a.bc' })).toBe(true);
    expect(matches(pattern, { key: 'axbc' })).toBe(false);
  });

  it('equals-ignore-case matches regardless of case', () => {
    const pattern = { state: [{ 'equals-ignore-case': 'RUNNING' }] };

    expect(matches(pattern, { state: 'Running' })).toBe(true);
    expect(matches(pattern, { state: 'runnin' })).toBe(false);
  });

  it('string operators never match numbers', () => {
    expect(matches({ code: [{ prefix: '4' }] }, { code: 404 })).toBe(false);
    expect(matches({ code: [{ suffix: '4' }] }, { code: 404 })).toBe(false);
    expect(matches({ code: [{ wildcard: '4*' }] }, { code: 404 })).toBe(false);
    expect(matches({ code: [{ 'equals-ignore-case': '404' }] }, { code: 404 })).toBe(false);
  });
});

describe('exists', () => {
  it('true matches a field that is present, whatever its value', () => {
    const pattern = { count: [{ exists: true }] };

    expect(matches(pattern, { count: 0 })).toBe(true);
    expect(matches(pattern, { count: null })).toBe(true);
    expect(matches(pattern, {})).toBe(false);
  });

  it('false matches a field that is missing', () => {
    const pattern = { count: [{ exists: false }] };

    expect(matches(pattern, {})).toBe(true);
    expect(matches(pattern, { count: 0 })).toBe(false);
  });

  it('false matches when the whole parent object is missing', () => {
    expect(matches({ detail: { count: [{ exists: false }] } }, { other: 1 })).toBe(true);
  });

  it('looks at leaf values only: an object at that path does not exist as a value', () => {
    const event = { detail: { count: { c1: 100 } } };

    expect(matches({ detail: { count: [{ exists: false }] } }, event)).toBe(true);
    expect(matches({ detail: { count: [{ exists: true }] } }, event)).toBe(false);
  });
});

describe('numeric', () => {
  it('matches a value inside a range', () => {
    const pattern = { count: [{ numeric: ['>', 0, '<=', 5] }] };

    expect(matches(pattern, { count: 1 })).toBe(true);
    expect(matches(pattern, { count: 5 })).toBe(true);
    expect(matches(pattern, { count: 0 })).toBe(false);
    expect(matches(pattern, { count: 6 })).toBe(false);
  });

  it('supports each comparison', () => {
    expect(matches({ n: [{ numeric: ['=', 3.5] }] }, { n: 3.5 })).toBe(true);
    expect(matches({ n: [{ numeric: ['=', 3.5] }] }, { n: 3.6 })).toBe(false);
    expect(matches({ n: [{ numeric: ['<', 10] }] }, { n: 9.99 })).toBe(true);
    expect(matches({ n: [{ numeric: ['<', 10] }] }, { n: 10 })).toBe(false);
    expect(matches({ n: [{ numeric: ['>=', 10] }] }, { n: 10 })).toBe(true);
    expect(matches({ n: [{ numeric: ['>=', 10] }] }, { n: 9 })).toBe(false);
  });

  it('does not match numbers written as strings', () => {
    expect(matches({ n: [{ numeric: ['>', 0] }] }, { n: '5' })).toBe(false);
  });

  it('does not match a missing field', () => {
    expect(matches({ n: [{ numeric: ['>', 0] }] }, {})).toBe(false);
  });
});

describe('anything-but', () => {
  it('with a value matches every other value', () => {
    const pattern = { state: [{ 'anything-but': 'initializing' }] };

    expect(matches(pattern, { state: 'running' })).toBe(true);
    expect(matches(pattern, { state: 'initializing' })).toBe(false);
  });

  it('with a list matches values outside the list', () => {
    const pattern = { code: [{ 'anything-but': [100, 200] }] };

    expect(matches(pattern, { code: 300 })).toBe(true);
    expect(matches(pattern, { code: 200 })).toBe(false);
  });

  it('with a prefix matches values that do not start with it', () => {
    const pattern = { state: [{ 'anything-but': { prefix: 'init' } }] };

    expect(matches(pattern, { state: 'running' })).toBe(true);
    expect(matches(pattern, { state: 'initializing' })).toBe(false);
  });

  it('does not match a missing field', () => {
    expect(matches({ state: [{ 'anything-but': 'initializing' }] }, {})).toBe(false);
  });
});

describe('an unknown operator', () => {
  it('throws when matched, instead of silently matching or not', () => {
    expect(() => matches({ ip: [{ cidr: '10.0.0.0/24' }] }, { ip: '10.0.0.1' })).toThrow(/cidr/);
  });

  it('is rejected when the filters are compiled, before any record arrives', () => {
    const filters = [{ Pattern: JSON.stringify({ a: ['x', { 'not-an-operator': 1 }] }) }];

    expect(() => compileFilters(filters)).toThrow(/not-an-operator/);
  });
});

describe('compileFilters', () => {
  it('keeps every record when there are no filters', () => {
    expect(compileFilters(undefined)({ anything: 1 })).toBe(true);
    expect(compileFilters([])({ anything: 1 })).toBe(true);
  });

  it('keeps a record when any one of the filters matches it', () => {
    const keep = compileFilters([
      { Pattern: JSON.stringify({ eventName: ['INSERT'] }) },
      { Pattern: JSON.stringify({ eventName: ['REMOVE'] }) },
    ]);

    expect(keep({ eventName: 'INSERT' })).toBe(true);
    expect(keep({ eventName: 'REMOVE' })).toBe(true);
    expect(keep({ eventName: 'MODIFY' })).toBe(false);
  });

  it('rejects a pattern whose field is neither a list nor an object', () => {
    expect(() => compileFilters([{ Pattern: JSON.stringify({ eventName: 'INSERT' }) }])).toThrow(/eventName/);
  });
});

describe("the template's stream filter for StreamAggregatorFunction", () => {
  const stream = functionsOf(loadTemplate()).find((fn) => fn.logicalId === 'StreamAggregatorFunction')?.events
    .TableStream?.Properties.FilterCriteria as { Filters: { Pattern: string }[] } | undefined;
  const keep = compileFilters(stream?.Filters);
  const laneRecord = (index = 0): DynamoDBRecord => {
    const record = loadEvent<DynamoDBStreamEvent>('stream-aggregator.json').Records[index];
    if (record === undefined) throw new Error(`events/stream-aggregator.json has no record ${index}`);
    return record;
  };
  const withKeys = (record: DynamoDBRecord, PK: string, SK: string): DynamoDBRecord => ({
    ...record,
    dynamodb: { ...record.dynamodb, Keys: { PK: { S: PK }, SK: { S: SK } } },
  });

  it('is declared in template.yaml', () => {
    expect(stream?.Filters).toHaveLength(1);
  });

  it('keeps a page handed to a lane, whether the lane item is new (INSERT) or rewritten (MODIFY)', () => {
    expect(laneRecord(0).eventName).toBe('INSERT');
    expect(keep(laneRecord(0))).toBe(true);
    expect(laneRecord(2).eventName).toBe('MODIFY');
    expect(keep(laneRecord(2))).toBe(true);
  });

  it('drops the million event inserts of a large file: they never invoke the aggregator', () => {
    const record = withKeys(
      laneRecord(0),
      'USER#u-001',
      'EVENT#2026-03-01T10:00:00.000Z#4d8e2f1a9b3c7e6d5a01',
    );

    expect(keep(record)).toBe(false);
  });

  it('drops changes of the aggregates it writes itself (TOTALS, DAILY#), so it never triggers itself', () => {
    expect(keep(withKeys(laneRecord(2), 'USER#u-001', 'TOTALS'))).toBe(false);
    expect(keep(withKeys(laneRecord(2), 'USER#u-001', 'DAILY#2026-03-01'))).toBe(false);
  });

  it('drops the REMOVE of a lane item', () => {
    expect(keep({ ...laneRecord(2), eventName: 'REMOVE' })).toBe(false);
  });
});
