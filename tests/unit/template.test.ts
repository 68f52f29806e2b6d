import { existsSync, readFileSync } from 'node:fs';
import { isBuiltin } from 'node:module';
import { fileURLToPath } from 'node:url';
import { build, type Format, type Platform } from 'esbuild';
import { describe, expect, it } from 'vitest';
import { functionsOf } from '../../local/template.ts';
import { loadTemplate, type Resource } from '../helpers/template.ts';

interface BuildProperties {
  Format?: string;
  Target?: string;
  Platform?: string;
  External?: string[];
  Banner?: unknown;
}

const ROOT = new URL('../../', import.meta.url);
const template = loadTemplate();
const functions = Object.entries(template.Resources).filter(
  ([, r]) => r.Type === 'AWS::Serverless::Function',
);

const readJson = <T>(path: string): T => JSON.parse(readFileSync(new URL(path, ROOT), 'utf8')) as T;
const layer = readJson<{ dependencies: Record<string, string> }>('layers/powertools/package.json');
const functionsPackage = readJson<{ dependencies: Record<string, string> }>('functions/package.json');

const buildPropertiesOf = (resource: Resource): BuildProperties =>
  (resource.Metadata?.BuildProperties ?? {}) as BuildProperties;
const specOf = (id: string) => functionsOf(template).find((fn) => fn.logicalId === id);
/** A function's CodeUri as SAM sees it: its own, or the one Globals gives every function. */
const codeUriOf = (id: string): string => String(specOf(id)?.properties.CodeUri ?? '');
/** The file SAM's esbuild bundles when no EntryPoints are given: the Handler's module, `dir/index.handler` → `dir/index.ts`. */
const entryOf = (id: string): string => `${String(specOf(id)?.handler).replace(/\.[^./]+$/, '')}.ts`;

/** `@scope/name/sub/path` → `@scope/name`; `name/sub` → `name`. */
const packageNameOf = (specifier: string): string => {
  const parts = specifier.split('/');
  return (specifier.startsWith('@') ? parts.slice(0, 2) : parts.slice(0, 1)).join('/');
};

/** Bundles a function the way `sam build` does and returns the imports esbuild left external. */
const externalImportsOf = async (id: string, resource: Resource): Promise<string[]> => {
  const properties = buildPropertiesOf(resource);
  const result = await build({
    absWorkingDir: fileURLToPath(new URL(codeUriOf(id), ROOT)),
    entryPoints: [entryOf(id)],
    bundle: true,
    platform: (properties.Platform ?? 'node') as Platform,
    format: (properties.Format ?? 'esm') as Format,
    ...(properties.Target === undefined ? {} : { target: properties.Target }),
    external: properties.External ?? [],
    outdir: 'out',
    metafile: true,
    write: false,
    logLevel: 'silent',
  });
  const imports = Object.values(result.metafile.outputs).flatMap((output) => output.imports);
  return [...new Set(imports.filter((entry) => entry.external).map((entry) => entry.path))].sort();
};

const EXACT_VERSION = /^\d+\.\d+\.\d+(-[0-9A-Za-z.-]+)?$/;

describe('template.yaml', () => {
  it('declares the functions this suite checks', () => {
    expect(functions.map(([id]) => id)).toEqual(
      expect.arrayContaining([
        'StartWorkflowFunction',
        'ValidateDataFunction',
        'ProcessRecordsFunction',
        'AggregateResultsFunction',
        'StoreResultsFunction',
        'RecordOutcomeFunction',
      ]),
    );
  });

  describe.each(functions)('%s', (id, resource) => {
    const properties = buildPropertiesOf(resource);

    it('is built by esbuild as an ES module', () => {
      expect(resource.Metadata?.BuildMethod).toBe('esbuild');
      expect(properties.Format).toBe('esm');
    });

    it('gives the banner as a YAML list, the form SAM passes to esbuild', () => {
      expect(Array.isArray(properties.Banner)).toBe(true);
      expect(properties.Banner).toEqual([expect.stringMatching(/^js=/)]);
    });

    it("is bundled from its Handler's own folder, an index.ts that exists under CodeUri functions/", () => {
      // No EntryPoints: SAM bundles the Handler's file, so the Handler alone says where the code is.
      expect(codeUriOf(id)).toBe('functions/');
      expect(properties).not.toHaveProperty('EntryPoints');
      expect(specOf(id)?.handler).toMatch(/^[a-z-]+\/index\.handler$/);
      expect(existsSync(new URL(`${codeUriOf(id)}${entryOf(id)}`, ROOT))).toBe(true);
    });

    it('shares its build with every other function (one esbuild block in the template)', () => {
      const [, first] = functions[0] ?? [];
      expect(buildPropertiesOf(resource)).toEqual(buildPropertiesOf(first as Resource));
      expect(
        readFileSync(new URL('template.yaml', ROOT), 'utf8').match(/^\s*BuildMethod: esbuild$/gm),
      ).toHaveLength(1);
    });

    it('has its own log group with a retention', () => {
      const logGroups = Object.values(template.Resources).filter(
        (r) =>
          r.Type === 'AWS::Logs::LogGroup' &&
          JSON.stringify(r.Properties?.LogGroupName) ===
            JSON.stringify({ 'Fn::Sub': `/aws/lambda/\${${id}}` }),
      );

      expect(logGroups).toHaveLength(1);
      expect(logGroups[0]?.Properties?.RetentionInDays).toBeDefined();
    });

    it('leaves external only Node builtins and packages the layer provides', async () => {
      const externals = await externalImportsOf(id, resource);

      const missing = externals.filter(
        (specifier) => !isBuiltin(specifier) && !(packageNameOf(specifier) in layer.dependencies),
      );
      expect(externals.length).toBeGreaterThan(0);
      expect(missing).toEqual([]);
    });
  });

  it('lets events/env.json set only variables the template declares, which are all sam local applies', () => {
    const env = readJson<Record<string, Record<string, string>>>('events/env.json');
    const globals = Object.keys(
      ((template.Globals?.Function as { Environment?: { Variables?: object } } | undefined)?.Environment
        ?.Variables ?? {}) as object,
    );

    for (const [id, variables] of Object.entries(env)) {
      const resource = template.Resources[id];
      const own = (resource?.Properties?.Environment as { Variables?: object } | undefined)?.Variables ?? {};
      expect(resource?.Type, id).toBe('AWS::Serverless::Function');
      expect([...globals, ...Object.keys(own)], id).toEqual(expect.arrayContaining(Object.keys(variables)));
    }
  });

  describe('packages', () => {
    it.each([
      ['layers/powertools/package.json', layer],
      ['functions/package.json', functionsPackage],
    ])('%s pins exact versions', (_path, pkg) => {
      const ranges = Object.entries(pkg.dependencies).filter(([, version]) => !EXACT_VERSION.test(version));

      expect(ranges).toEqual([]);
    });

    it.each(Object.entries({ ...layer.dependencies, ...functionsPackage.dependencies }))(
      'tests run against the deployed version of %s (%s)',
      (name, version) => {
        const installed = readJson<{ version: string }>(`node_modules/${name}/package.json`).version;

        expect(installed).toBe(version);
      },
    );
  });
});
