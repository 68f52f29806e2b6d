// biome-ignore-all lint/performance/useDomNodeTextContent: Playwright's innerText() is the rendered text a person sees (CSS applied), which is what this test asserts on; textContent is not.
import { execFile } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { chromium } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { usd } from '../../local/meter/cost.ts';
import { csv, HEADER, projectRoot, userRows } from './support.ts';

// The run report as a person sees it: `npm run local -- run` on real files, then the page it wrote opened in
// Debian's Chromium (installed by scripts/setup.sh). A screenshot is kept in .local/test-artifacts/.

const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';
const ARTIFACTS = join(projectRoot, '.local', 'test-artifacts');

interface RunDocument {
  files: { key: string; status: string; rows: { total: number } }[];
  cost: { totalUsd: number };
  reportPath: string;
}

let document: RunDocument;

beforeAll(async () => {
  // Not a skip: a missing browser fails the suite with what to do about it.
  if (!existsSync(CHROMIUM)) {
    throw new Error(
      `Chromium is not at ${CHROMIUM}: scripts/setup.sh installs Debian's chromium package (apt-get install chromium); set CHROMIUM_PATH if it lives elsewhere`,
    );
  }
  const dir = mkdtempSync(join(tmpdir(), 'report-page-'));
  // 250 rows at 100 rows a chunk: three Map iterations, three bars.
  const rows = [...userRows('ada', 120), ...userRows('grace', 130, 'view')];
  writeFileSync(join(dir, 'three-chunks.csv'), csv(HEADER, rows));
  writeFileSync(join(dir, 'wrong-header.csv'), 'user,type\nada,click\n');
  const { stdout } = await promisify(execFile)(
    process.execPath,
    [
      'local/cli.ts',
      'run',
      join(dir, 'three-chunks.csv'),
      join(dir, 'wrong-header.csv'),
      '--json',
      '--parameter-overrides',
      'ChunkRows=100',
    ],
    { cwd: projectRoot, maxBuffer: 64 * 1024 * 1024 },
  );
  document = JSON.parse(stdout) as RunDocument;
});

describe('the run report page, in Chromium', () => {
  let browser: Awaited<ReturnType<typeof chromium.launch>>;
  beforeAll(async () => {
    browser = await chromium.launch({ executablePath: CHROMIUM, args: ['--no-sandbox'] });
  });
  afterAll(async () => {
    await browser?.close();
  });

  it('shows each file with its status, one timeline bar per chunk, and the metered cost', async () => {
    expect(document.files.map((file) => [file.key, file.status])).toEqual([
      ['uploads/three-chunks.csv', 'SUCCEEDED'],
      ['uploads/wrong-header.csv', 'REJECTED'],
    ]);
    const page = await browser.newPage({ viewport: { width: 1200, height: 900 } });
    await page.goto(`file://${document.reportPath}`);

    const text = await page.locator('body').innerText();
    expect(text).toContain('uploads/three-chunks.csv');
    expect(text).toContain('uploads/wrong-header.csv');
    expect(await page.locator('[data-key="uploads/three-chunks.csv"] .status').innerText()).toBe('SUCCEEDED');
    expect(await page.locator('[data-key="uploads/wrong-header.csv"] .status').innerText()).toBe('REJECTED');
    expect(text).toMatch(/InvalidHeader: missing column\(s\) user_id, event_type/);

    // Bars a person can see: laid out with a width, in the file's own timeline.
    const bars = page.locator('[data-key="uploads/three-chunks.csv"] .timeline g.iteration rect');
    expect(await bars.count()).toBe(3);
    for (const bar of await bars.all()) {
      const box = await bar.boundingBox();
      expect(box?.width ?? 0).toBeGreaterThan(0);
      expect(await bar.isVisible()).toBe(true);
    }
    const states = await page
      .locator('[data-key="uploads/three-chunks.csv"] .timeline g.state')
      .evaluateAll((nodes) => nodes.map((node) => node.getAttribute('data-state')));
    expect(states).toEqual(
      expect.arrayContaining(['ValidateData', 'ProcessRecords', 'AggregateResults', 'StoreResults']),
    );

    expect(await page.locator('#cost-total').innerText()).toContain(usd(document.cost.totalUsd));
    expect(await page.locator('#cost-by-service g.bar').count()).toBeGreaterThan(3);

    mkdirSync(ARTIFACTS, { recursive: true });
    await page.screenshot({ path: join(ARTIFACTS, 'run-report.png'), fullPage: true });
    expect(existsSync(join(ARTIFACTS, 'run-report.png'))).toBe(true);
    await page.close();
  });
});
