import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';

// checkov exits 0 on a template it cannot parse, having checked nothing; scripts/checkov.sh, which the test
// command runs on template.yaml and its translation, must turn that into a failure.

const ROOT = join(import.meta.dirname, '..', '..');
const checkov = (file: string) =>
  spawnSync(join(ROOT, 'scripts', 'checkov.sh'), [file], { cwd: ROOT, encoding: 'utf8' });

describe('scripts/checkov.sh', () => {
  it('fails a template checkov cannot parse (a merged key overridden), which checkov alone lets pass', () => {
    const dir = mkdtempSync(join(tmpdir(), 'checkov-'));
    const broken = join(dir, 'template.yaml');
    const template = readFileSync(join(ROOT, 'template.yaml'), 'utf8');
    const overridden = template.replace(/( {6}AlarmDescription: SNS deliveries)/, '      Threshold: 5\n$1');
    expect(overridden).not.toBe(template);
    writeFileSync(broken, overridden);

    const result = checkov(broken);

    expect(result.stderr).toMatch(/checkov checked nothing/);
    expect(result.status).not.toBe(0);
  }, 120_000);
});
