import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { InvocationStats } from './lambda/runtime.ts';
import { type CostReport, usd } from './meter/cost.ts';
import type { MeterSnapshot } from './meter/meter.ts';
import type { FileReport } from './report.ts';
import type { ExecutionRecord, TimelineSpan } from './stepfunctions.ts';

// The offline run as one self-contained HTML page: per file its outcome, rows and rejected rows, a timeline
// of its execution (each state and each Map iteration a bar, retries marked), throughput, the metered cost
// as bars, per function invocations, duration and heap, and the architecture with what flowed along each
// edge. No script, no network: inline CSS and SVG, so it opens from disk anywhere and is safe to mail.
// Everything that comes from the data (file names, ids, reasons) is HTML-escaped.

export interface RunReportData {
  title: string;
  generatedAt: Date;
  /** From the first upload to the end of the drain. */
  wallMs: number;
  files: { report: FileReport; execution?: ExecutionRecord }[];
  cost: { report: CostReport; counts: MeterSnapshot };
  /** The runtime's per-function statistics (LambdaRuntime.stats()). */
  functions: Record<string, InvocationStats>;
}

const html = (text: unknown): string =>
  String(text).replace(
    /[&<>"']/g,
    (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c] ?? c,
  );
const num = (n: number, digits = 0) =>
  n.toLocaleString('en-US', { maximumFractionDigits: digits, minimumFractionDigits: 0 });
const seconds = (ms: number) => `${(ms / 1000).toFixed(ms < 10_000 ? 2 : 1)} s`;

const STATUS_CLASS: Record<string, string> = {
  SUCCEEDED: 'ok',
  REJECTED: 'warn',
  FAILED: 'bad',
  TIMED_OUT: 'bad',
};

/** Horizontal bars, one per row, widths relative to the largest; `data-*` attributes name what each shows. */
const barChart = (id: string, rows: { label: string; value: number; text: string }[]): string => {
  const max = Math.max(...rows.map((row) => row.value), Number.MIN_VALUE);
  const height = 22;
  const bars = rows
    .map((row, i) => {
      const width = Math.max(1, (row.value / max) * 360);
      const y = i * height;
      return (
        `<g class="bar" data-label="${html(row.label)}"><text x="0" y="${y + 15}">${html(row.label)}</text>` +
        `<rect x="270" y="${y + 4}" width="${width.toFixed(1)}" height="${height - 8}"/>` +
        `<text x="${(276 + width).toFixed(1)}" y="${y + 15}" class="value">${html(row.text)}</text></g>`
      );
    })
    .join('');
  return `<svg id="${id}" class="bars" width="900" height="${rows.length * height + 4}" role="img">${bars}</svg>`;
};

/** One row per top-level state and one per Map iteration, on a shared time axis from the execution's start. */
const timeline = (execution: ExecutionRecord): string => {
  const spans = execution.timeline;
  if (spans.length === 0) return '<p class="muted">no timeline recorded</p>';
  const start = execution.startDate.getTime();
  const end = Math.max(
    execution.stopDate?.getTime() ?? start,
    ...spans.map((span) => span.end ?? span.start),
    start + 1,
  );
  const iterations = spans.filter((span) => span.index !== undefined).length;
  const rowHeight = iterations > 200 ? 3 : iterations > 60 ? 6 : 14;
  const labelWidth = 170;
  const plotWidth = 560;
  const x = (at: number) => labelWidth + ((at - start) / (end - start)) * plotWidth;
  let y = 0;
  const rows: string[] = [];
  for (const span of spans) {
    const isIteration = span.index !== undefined;
    const h = isIteration ? rowHeight : 14;
    const from = x(span.start);
    const width = Math.max(1.5, x(span.end ?? end) - from);
    const name = isIteration ? `${span.state} #${span.index}` : span.state;
    const duration = (span.end ?? end) - span.start;
    const classes = [
      'span',
      isIteration ? 'iteration' : 'state',
      span.outcome ?? 'open',
      span.retries > 0 ? 'retried' : '',
    ]
      .filter(Boolean)
      .join(' ');
    rows.push(
      `<g class="${classes}" data-state="${html(span.state)}"${isIteration ? ` data-index="${span.index}"` : ''} data-retries="${span.retries}">` +
        `<title>${html(name)}: ${seconds(duration)}${span.retries > 0 ? `, retried ${span.retries}×` : ''}</title>` +
        (isIteration && rowHeight < 10 ? '' : `<text x="0" y="${y + h - 3}">${html(name)}</text>`) +
        `<rect x="${from.toFixed(1)}" y="${y}" width="${width.toFixed(1)}" height="${Math.max(1, h - 1)}"/>` +
        (span.retries > 0
          ? `<text class="retry-mark" x="${(from + width + 3).toFixed(1)}" y="${y + h - 1}">↻${span.retries}</text>`
          : '') +
        '</g>',
    );
    y += h;
  }
  const axis = `<text x="${labelWidth}" y="${y + 14}" class="muted">0 s</text><text x="${labelWidth + plotWidth}" y="${y + 14}" text-anchor="end" class="muted">${seconds(end - start)}</text>`;
  return `<svg class="timeline" width="${labelWidth + plotWidth + 40}" height="${y + 20}" role="img">${rows.join('')}${axis}</svg>`;
};

const fileSection = ({ report, execution }: RunReportData['files'][number], open: boolean): string => {
  const durationMs = report.durationMs ?? 0;
  const throughput = durationMs > 0 ? `${num(report.rows.total / (durationMs / 1000))} rows/s` : '—';
  const chunks = execution?.timeline.filter((span: TimelineSpan) => span.index !== undefined).length ?? 0;
  const rejects = report.rejectSample
    .map((sample) => `<li>row ${sample.row}: ${html(sample.reason)}</li>`)
    .join('');
  return `<details class="file" data-key="${html(report.key)}" data-status="${report.status}"${open ? ' open' : ''}>
<summary><span class="name">${html(report.key)}</span> <span class="status ${STATUS_CLASS[report.status] ?? ''}">${report.status}</span>
 <span class="muted">${num(report.rows.total)} rows: ${num(report.rows.stored)} stored, ${num(report.rows.rejected)} rejected · ${report.durationMs === null ? '?' : seconds(report.durationMs)} · ${throughput}</span></summary>
${report.reason ? `<p class="reason">${html(report.reason)}</p>` : ''}
${rejects ? `<p>Rejected rows (sample):</p><ul class="rejects">${rejects}</ul>` : ''}
<p class="muted">${chunks} chunk${chunks === 1 ? '' : 's'} · largest state payload ${num(report.maxStatePayloadBytes ?? 0)} bytes · ${report.retries} retries${report.destinationKey ? ` · original at ${html(report.destinationKey)}` : ''}</p>
${execution ? timeline(execution) : ''}
</details>`;
};

/** Writes of one item type, as the meter counted them. */
const writesOf = (counts: MeterSnapshot, itemType: string): number =>
  counts.dynamodb.writes
    .filter((write) => write.billable && write.itemType === itemType)
    .reduce((total, write) => total + write.writes, 0);
const invocationsOf = (counts: MeterSnapshot, functionId: string): number =>
  counts.lambda.find((fn) => fn.functionId === functionId)?.invocations ?? 0;
/** Calls one principal (`fn.<Function>`, …) made of one operation. */
const callsOf = (counts: MeterSnapshot, principal: string, service: string, operation: string): number =>
  counts.requests
    .filter(
      (request) =>
        request.principal === principal && request.service === service && request.operation === operation,
    )
    .reduce((total, request) => total + request.count, 0);

/** The pipeline as boxes, each edge labelled with what went along it in this run. */
const architecture = (data: RunReportData): string => {
  const { counts } = data.cost;
  const rows = data.files.reduce((total, file) => total + file.report.rows.total, 0);
  const rejected = data.files.reduce((total, file) => total + file.report.rows.rejected, 0);
  // The Map's items, not ProcessRecords' invocations: a retried chunk is invoked twice.
  const chunks = data.files.reduce((total, file) => total + (file.execution?.map.total ?? 0), 0);
  const boxes: [string, number, number][] = [
    ['uploads/', 10, 20],
    ['ValidateData', 260, 20],
    ['ProcessRecords', 510, 20],
    ['DynamoDB EVENT#', 760, 20],
    ['rejected/', 260, 120],
    ['StoreResults', 510, 120],
    ['LANE# → stream', 760, 120],
    ['StreamAggregator', 760, 220],
    ['TOTALS, DAILY#', 510, 220],
    ['Inference', 260, 220],
  ];
  const at = new Map(boxes.map(([name, x, y]) => [name, { x, y }]));
  const edges: [string, string, string][] = [
    ['uploads/', 'ValidateData', `${num(data.files.length)} files, ${num(rows)} rows`],
    ['ValidateData', 'ProcessRecords', `${num(chunks)} chunks`],
    ['ProcessRecords', 'DynamoDB EVENT#', `${num(writesOf(counts, 'EVENT#'))} writes`],
    ['ValidateData', 'rejected/', `${num(rejected)} rows`],
    ['StoreResults', 'LANE# → stream', `${num(writesOf(counts, 'LANE#PAGE'))} pages`],
    [
      'LANE# → stream',
      'StreamAggregator',
      `${num(invocationsOf(counts, 'StreamAggregatorFunction'))} invocations`,
    ],
    [
      'StreamAggregator',
      'TOTALS, DAILY#',
      `${num(writesOf(counts, 'USER#TOTALS') + writesOf(counts, 'DAILY#'))} writes`,
    ],
    [
      'TOTALS, DAILY#',
      'Inference',
      `${num(callsOf(counts, 'fn.StreamAggregatorFunction', 'sns', 'Publish'))} SNS messages (events, alerts)`,
    ],
  ];
  const w = 130;
  const h = 36;
  const lines = edges
    .map(([from, to, label]) => {
      const a = at.get(from);
      const b = at.get(to);
      if (a === undefined || b === undefined) return '';
      const [x1, y1, x2, y2] =
        a.y === b.y
          ? a.x < b.x
            ? [a.x + w, a.y + h / 2, b.x, b.y + h / 2]
            : [a.x, a.y + h / 2, b.x + w, b.y + h / 2]
          : [a.x + w / 2, a.y + h, b.x + w / 2, b.y];
      const lx = (x1 + x2) / 2 + (a.y === b.y ? 0 : 6);
      const ly = (y1 + y2) / 2 + (a.y === b.y ? -6 : 4);
      return `<g class="edge" data-from="${html(from)}" data-to="${html(to)}"><line x1="${x1}" y1="${y1}" x2="${x2}" y2="${y2}" marker-end="url(#arrow)"/><text x="${lx}" y="${ly}" text-anchor="${a.y === b.y ? 'middle' : 'start'}">${html(label)}</text></g>`;
    })
    .join('');
  const nodes = boxes
    .map(
      ([name, x, y]) =>
        `<g class="node"><rect x="${x}" y="${y}" width="${w}" height="${h}" rx="6"/><text x="${x + w / 2}" y="${y + 23}" text-anchor="middle">${html(name)}</text></g>`,
    )
    .join('');
  return `<svg class="architecture" width="1000" height="270" role="img"><defs><marker id="arrow" viewBox="0 0 10 10" refX="9" refY="5" markerWidth="7" markerHeight="7" orient="auto"><path d="M0,0 L10,5 L0,10 z"/></marker></defs>${lines}${nodes}</svg>`;
};

const functionTable = (data: RunReportData): string => {
  const rows = data.cost.counts.lambda
    .filter((fn) => fn.invocations > 0)
    .map((fn) => {
      const stats = data.functions[fn.functionId];
      return `<tr data-function="${html(fn.functionId)}"><td>${html(fn.functionId)}</td><td>${num(fn.invocations)}</td><td>${num(fn.errors)}</td><td>${num(fn.coldStarts)}</td>
<td>${num(fn.billedMs / fn.invocations)}</td><td>${num(fn.measuredMs / fn.invocations)}</td><td>${num(fn.memoryMb)}</td><td>${stats ? num(stats.peakHeapBytes / 2 ** 20, 1) : '—'}</td></tr>`;
    })
    .join('');
  return `<table class="functions"><thead><tr><th>function</th><th>invocations</th><th>errors</th><th>cold starts</th><th>mean ms (priced)</th><th>mean ms (measured)</th><th>memory MB</th><th>peak heap MiB</th></tr></thead><tbody>${rows}</tbody></table>`;
};

const STYLE = `body{font:14px/1.45 system-ui,sans-serif;margin:24px;color:#1d2630;max-width:1100px}
h1{font-size:22px;margin:0 0 4px}h2{font-size:17px;margin:28px 0 8px;border-bottom:1px solid #dde3ea;padding-bottom:4px}
.muted{color:#66717d}.figures{display:flex;gap:28px;flex-wrap:wrap;margin:14px 0}.figure b{display:block;font-size:20px}
.status{font-weight:600;padding:1px 8px;border-radius:10px;font-size:12px}.ok{background:#d9f2e0;color:#17602d}
.warn{background:#fdeccc;color:#7a4a00}.bad{background:#fbd9d7;color:#8a1c14}
details.file{border:1px solid #dde3ea;border-radius:6px;padding:8px 12px;margin:8px 0}summary{cursor:pointer}
.name{font-family:ui-monospace,monospace;font-weight:600}.reason{color:#8a1c14}
svg text{font-size:11px;fill:#1d2630}svg .value{fill:#66717d}.bars rect{fill:#3b7dd8}
.timeline .state rect{fill:#7a8896}.timeline .iteration rect{fill:#3b7dd8}.timeline .failed rect{fill:#d0453a}
.timeline .retried rect{stroke:#d98e04;stroke-width:1.5}.retry-mark{fill:#d98e04!important;font-weight:700}
.architecture rect{fill:#eef3f9;stroke:#3b7dd8}.architecture line{stroke:#66717d;stroke-width:1.4}
.architecture marker path{fill:#66717d}table{border-collapse:collapse}td,th{padding:3px 10px;border-bottom:1px solid #eef1f4;text-align:right}
td:first-child,th:first-child{text-align:left}`;

/** The run report as one HTML document. */
export const renderRunReport = (data: RunReportData): string => {
  const { report: cost } = data.cost;
  const rows = data.files.reduce((total, file) => total + file.report.rows.total, 0);
  const stored = data.files.reduce((total, file) => total + file.report.rows.stored, 0);
  const rejected = data.files.reduce((total, file) => total + file.report.rows.rejected, 0);
  const statuses = new Map<string, number>();
  for (const { report } of data.files) statuses.set(report.status, (statuses.get(report.status) ?? 0) + 1);
  const figures: [string, string, string][] = [
    ['files', [...statuses].map(([status, n]) => `${n} ${status}`).join(', '), 'files'],
    ['rows', `${num(rows)} (${num(stored)} stored, ${num(rejected)} rejected)`, 'rows'],
    ['wall time', seconds(data.wallMs), 'wall'],
    ['throughput', `${num(rows / Math.max(0.001, data.wallMs / 1000))} rows/s`, 'throughput'],
    [
      'cost',
      `${usd(cost.totalUsd)}${cost.perMillionEventsUsd === null ? '' : ` · ${usd(cost.perMillionEventsUsd)} per million events`}`,
      'cost',
    ],
    [
      'DynamoDB write units per event',
      cost.writeUnitsPerEvent === null ? '—' : cost.writeUnitsPerEvent.toFixed(2),
      'wru',
    ],
  ];
  const many = data.files.length > 20;
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>${html(data.title)}</title>
<meta name="viewport" content="width=device-width, initial-scale=1"><style>${STYLE}</style></head>
<body>
<h1>${html(data.title)}</h1>
<p class="muted">generated ${html(data.generatedAt.toISOString())} by the offline runtime (moto on loopback; prices from ${html(cost.pricesReadOn)}, ${html(cost.region)})</p>
<div class="figures">${figures.map(([label, value, id]) => `<div class="figure" id="figure-${id}"><b>${html(value)}</b><span class="muted">${html(label)}</span></div>`).join('')}</div>
<h2>Architecture, with what flowed in this run</h2>
${architecture(data)}
<h2>Files</h2>
${many ? `<p class="muted">${data.files.length} files; the first is open, the rest folded.</p>` : ''}
${data.files.map((file, i) => fileSection(file, !many || i === 0)).join('\n')}
<h2>Cost, metered</h2>
<p id="cost-total"><b>${usd(cost.totalUsd)}</b> for ${num(cost.storedEvents)} stored events${cost.perMillionEventsUsd === null ? '' : ` = <b>${usd(cost.perMillionEventsUsd)}</b> per million events`}; Lambda duration priced with AWS latencies (measured offline: ${usd(cost.lambdaDuration.measuredUsd)})</p>
<h3>By service</h3>
${barChart(
  'cost-by-service',
  cost.services
    .filter((s) => s.usd > 0)
    .map((s) => ({ label: s.service, value: s.usd, text: `${usd(s.usd)} (${(s.share * 100).toFixed(0)}%)` })),
)}
<h3>Largest line items</h3>
${barChart(
  'cost-by-item',
  cost.lineItems.slice(0, 12).map((item) => ({
    label: item.label.length > 40 ? `${item.label.slice(0, 39)}…` : item.label,
    value: item.usd,
    text: `${usd(item.usd)} · ${num(item.quantity, item.quantity < 10 ? 3 : 0)} ${item.unit}`,
  })),
)}
<h2>Functions</h2>
${functionTable(data)}
</body></html>
`;
};

/** Writes the page under `.local/reports/` and returns its path. */
export const writeRunReport = (root: string, name: string, data: RunReportData): string => {
  const dir = join(root, '.local', 'reports');
  mkdirSync(dir, { recursive: true });
  const path = join(dir, `${name}-${data.generatedAt.toISOString().replace(/[:.]/g, '-')}.html`);
  writeFileSync(path, renderRunReport(data));
  return path;
};
