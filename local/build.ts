import { spawn } from 'node:child_process';
import { existsSync, readdirSync, statSync } from 'node:fs';
import { delimiter, join } from 'node:path';

// The offline runtime runs what `sam build` produces (esbuild bundles + the Powertools layer), the same
// artifacts `sam deploy` ships, so a bundling or layer mistake shows up here and not first in AWS.

const newest = (path: string): number => {
  if (!existsSync(path)) return 0;
  const stat = statSync(path);
  if (!stat.isDirectory()) return stat.mtimeMs;
  let latest = stat.mtimeMs;
  for (const entry of readdirSync(path)) {
    if (entry === 'node_modules') continue;
    latest = Math.max(latest, newest(join(path, entry)));
  }
  return latest;
};

export const buildDirOf = (root: string) => join(root, '.aws-sam', 'build');

/** The template sam build writes beside its artifacts, with each function's built CodeUri and Handler. */
export const builtTemplateOf = (root: string) => join(buildDirOf(root), 'template.yaml');

const isBuildFresh = (root: string): boolean => {
  const marker = builtTemplateOf(root);
  if (!existsSync(marker)) return false;
  const sources = ['functions', 'layers', 'template.yaml'].map((path) => newest(join(root, path)));
  return statSync(marker).mtimeMs >= Math.max(...sources);
};

/** Runs `sam build` from the project's virtualenv, with node_modules/.bin (esbuild, Node 24) on PATH. */
const samBuild = async (root: string, log: (line: string) => void): Promise<void> => {
  const sam = join(root, '.venv', 'bin', 'sam');
  if (!existsSync(sam)) throw new Error(`${sam} not found: run scripts/setup.sh first`);
  log('build: sam build --cached --parallel');
  const child = spawn(sam, ['build', '--cached', '--parallel'], {
    cwd: root,
    env: {
      ...process.env,
      PATH: [join(root, 'node_modules', '.bin'), process.env.PATH].join(delimiter),
      SAM_CLI_TELEMETRY: '0',
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let output = '';
  child.stdout.on('data', (chunk: Buffer) => {
    output += chunk.toString();
  });
  child.stderr.on('data', (chunk: Buffer) => {
    output += chunk.toString();
  });
  const code = await new Promise<number | null>((resolve) => child.on('close', resolve));
  if (code !== 0) throw new Error(`sam build failed (exit ${code}):\n${output.slice(-4000)}`);
};

/** Builds when asked to, or when `auto` finds the build older than its sources. */
export const ensureBuild = async (
  root: string,
  mode: 'auto' | 'always' | 'never',
  log: (line: string) => void,
): Promise<void> => {
  if (mode === 'always' || (mode === 'auto' && !isBuildFresh(root))) await samBuild(root, log);
  else log('build: .aws-sam/build is up to date');
};
