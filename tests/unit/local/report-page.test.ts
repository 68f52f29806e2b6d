import { describe, expect, it } from 'vitest';
import { priceSnapshot } from '../../../local/meter/cost.ts';
import { Meter } from '../../../local/meter/meter.ts';
import type { FileReport } from '../../../local/report.ts';
import { renderRunReport } from '../../../local/report-page.ts';
import type { ExecutionRecord } from '../../../local/stepfunctions.ts';

// The run report page as text: what comes from the data is escaped, and the timeline says what ran.

const START = Date.UTC(2026, 11, 4, 12, 0, 0);

const report = (key: string, reason?: string): FileReport => ({
  key,
  status: 'SUCCEEDED',
  rows: { total: 3, stored: 2, rejected: 1 },
  executionArn: 'arn:aws:states:us-east-1:123456789012:execution:pipeline:x',
  executionStatus: 'SUCCEEDED',
  durationMs: 4000,
  ...(reason === undefined ? {} : { reason }),
  rejectsKey: null,
  rejectSample: [{ row: 2, reason: 'user_id is empty <img src=x onerror=alert(1)>' }],
  destinationKey: null,
  topUsers: [],
  maxStatePayloadBytes: 1000,
  retries: 1,
});

const execution = (): ExecutionRecord =>
  ({
    startDate: new Date(START),
    stopDate: new Date(START + 4000),
    map: { total: 2, done: 2 },
    timeline: [
      { state: 'ValidateData', start: START, end: START + 1000, outcome: 'succeeded', retries: 0 },
      { state: 'ProcessRecords', start: START + 1000, end: START + 3000, outcome: 'succeeded', retries: 0 },
      {
        state: 'ProcessRecords',
        index: 0,
        start: START + 1000,
        end: START + 2000,
        outcome: 'succeeded',
        retries: 0,
      },
      {
        state: 'ProcessRecords',
        index: 1,
        start: START + 1000,
        end: START + 3000,
        outcome: 'succeeded',
        retries: 2,
      },
    ],
  }) as ExecutionRecord;

const page = (key: string) => {
  const snapshot = new Meter().snapshot({
    executions: 1,
    stateTransitions: 10,
    storedBytesByPrefix: {},
    dynamoStorage: { items: 0, bytes: 0 },
  });
  return renderRunReport({
    title: 'test run',
    generatedAt: new Date(START + 5000),
    wallMs: 5000,
    files: [{ report: report(key), execution: execution() }],
    cost: { report: priceSnapshot(snapshot, 2), counts: snapshot },
    functions: {},
  });
};

describe('the run report page', () => {
  it('escapes file names and reasons from the data', () => {
    const html = page('uploads/<script>alert("x")</script>.csv');

    expect(html).not.toContain('<script>');
    expect(html).not.toContain('<img');
    expect(html).toContain('uploads/&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt;.csv');
    expect(html).toContain('user_id is empty &lt;img src=x onerror=alert(1)&gt;');
  });

  it('draws one bar per state and per Map iteration, and marks the retried iteration', () => {
    const html = page('uploads/a.csv');

    expect(html.match(/<g class="span iteration/g)).toHaveLength(2);
    expect(html.match(/<g class="span state/g)).toHaveLength(2);
    expect(html).toContain('data-index="1" data-retries="2"');
    expect(html).toContain('↻2');
    expect(html).toContain('2 chunks</text>');
  });

  it('is self-contained: no script and nothing fetched from the network', () => {
    const html = page('uploads/a.csv');

    expect(html).not.toMatch(/<script|<link|src="http|href="http/);
  });
});
