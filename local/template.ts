import { readFileSync } from 'node:fs';
import { type CollectionTag, isMap, isScalar, isSeq, parse, type ScalarTag } from 'yaml';

// Reads template.yaml the way CloudFormation does, so the offline runtime takes names, patterns, env vars
// and settings from the one template that deploys, never from a copy in code.

export type Json = null | boolean | number | string | Json[] | { [key: string]: Json };
export type Node = Json;

const INTRINSICS = ['Ref', 'Condition'];
const FN = [
  'GetAtt',
  'Sub',
  'If',
  'Not',
  'Equals',
  'And',
  'Or',
  'Join',
  'Select',
  'Split',
  'FindInMap',
  'Base64',
  'GetAZs',
  'ImportValue',
];

const tags: (ScalarTag | CollectionTag)[] = [];
for (const name of [...INTRINSICS, ...FN]) {
  const key = INTRINSICS.includes(name) ? name : `Fn::${name}`;
  const resolveValue = (value: unknown): Json => {
    if (name === 'GetAtt' && typeof value === 'string') {
      const dot = value.indexOf('.');
      return { [key]: [value.slice(0, dot), value.slice(dot + 1)] };
    }
    return { [key]: value as Json };
  };
  tags.push({ tag: `!${name}`, resolve: (value: string) => resolveValue(value) } as ScalarTag);
  tags.push({
    tag: `!${name}`,
    collection: 'seq',
    resolve: (seq: unknown) => resolveValue(isSeq(seq) ? seq.toJSON() : seq),
  } as unknown as CollectionTag);
  tags.push({
    tag: `!${name}`,
    collection: 'map',
    resolve: (map: unknown) => resolveValue(isMap(map) ? map.toJSON() : map),
  } as unknown as CollectionTag);
}
void isScalar;

export interface Resource {
  Type: string;
  Properties?: Record<string, Json>;
  Metadata?: Record<string, Json>;
  Condition?: string;
}

export interface Template {
  Parameters?: Record<string, { Type: string; Default?: Json }>;
  Conditions?: Record<string, Json>;
  Globals?: { Function?: Record<string, Json> };
  Resources: Record<string, Resource>;
}

export const loadTemplate = (path: string): Template =>
  parse(readFileSync(path, 'utf8'), { customTags: tags, merge: true }) as Template;

export interface ResolverContext {
  stackName: string;
  region: string;
  accountId: string;
  parameters?: Record<string, string>;
  /** Physical id of a resource (what !Ref returns). */
  ref(logicalId: string): string | undefined;
  /** A resource attribute (what !GetAtt returns). */
  getAtt(logicalId: string, attribute: string): string | undefined;
}

export class UnresolvableError extends Error {
  override name = 'UnresolvableError';
}

/** Evaluates intrinsic functions against the offline resources; anything it cannot resolve fails loudly. */
export class Resolver {
  private readonly template: Template;
  private readonly context: ResolverContext;

  constructor(template: Template, context: ResolverContext) {
    this.template = template;
    this.context = context;
  }

  parameter(name: string): string | undefined {
    // Own keys only: a name such as `constructor` is not a parameter.
    const overrides = this.context.parameters ?? {};
    if (Object.hasOwn(overrides, name)) return overrides[name];
    const declared = this.template.Parameters ?? {};
    const value = Object.hasOwn(declared, name) ? declared[name]?.Default : undefined;
    return value === undefined ? undefined : String(value);
  }

  condition(name: string): boolean {
    const conditions = this.template.Conditions ?? {};
    const expression = Object.hasOwn(conditions, name) ? conditions[name] : undefined;
    if (expression === undefined) throw new UnresolvableError(`Unknown condition ${name}`);
    return Boolean(this.resolve(expression));
  }

  private ref(name: string): string {
    const pseudo: Record<string, string> = {
      'AWS::StackName': this.context.stackName,
      'AWS::Region': this.context.region,
      'AWS::AccountId': this.context.accountId,
      'AWS::Partition': 'aws',
      'AWS::URLSuffix': 'amazonaws.com',
    };
    const value =
      (Object.hasOwn(pseudo, name) ? pseudo[name] : undefined) ??
      this.parameter(name) ??
      this.context.ref(name);
    if (value === undefined) throw new UnresolvableError(`Cannot resolve !Ref ${name}`);
    return value;
  }

  private getAtt(logicalId: string, attribute: string): string {
    const value = this.context.getAtt(logicalId, attribute);
    if (value === undefined) throw new UnresolvableError(`Cannot resolve !GetAtt ${logicalId}.${attribute}`);
    return value;
  }

  private sub(text: string, variables: Record<string, Json> = {}): string {
    return text.replace(/\$\{([^}]+)\}/g, (_match, expression: string) => {
      if (expression.startsWith('!')) return `\${${expression.slice(1)}}`;
      if (Object.hasOwn(variables, expression)) return String(this.resolve(variables[expression] ?? null));
      const dot = expression.indexOf('.');
      return dot === -1
        ? this.ref(expression)
        : this.getAtt(expression.slice(0, dot), expression.slice(dot + 1));
    });
  }

  resolve(node: Json): Json {
    if (Array.isArray(node)) return node.map((item) => this.resolve(item));
    if (node === null || typeof node !== 'object') return node;
    const keys = Object.keys(node);
    if (keys.length === 1) {
      const [key] = keys as [string];
      const arg = node[key] as Json;
      switch (key) {
        case 'Ref':
          return this.ref(String(arg));
        case 'Condition':
          return this.condition(String(arg));
        case 'Fn::GetAtt': {
          const [logicalId, attribute] = arg as [string, string];
          return this.getAtt(logicalId, attribute);
        }
        case 'Fn::Sub':
          if (typeof arg === 'string') return this.sub(arg);
          return this.sub(String((arg as Json[])[0]), (arg as [string, Record<string, Json>])[1]);
        case 'Fn::If': {
          const [condition, whenTrue, whenFalse] = arg as [string, Json, Json];
          return this.resolve(this.condition(condition) ? whenTrue : whenFalse);
        }
        case 'Fn::Not':
          return !this.resolve((arg as Json[])[0] ?? null);
        case 'Fn::Equals': {
          const [a, b] = arg as [Json, Json];
          return JSON.stringify(this.resolve(a)) === JSON.stringify(this.resolve(b));
        }
        case 'Fn::And':
          return (arg as Json[]).every((item) => this.resolve(item));
        case 'Fn::Or':
          return (arg as Json[]).some((item) => this.resolve(item));
        case 'Fn::Join': {
          const [separator, items] = arg as [string, Json[]];
          return (this.resolve(items) as Json[]).join(separator);
        }
        default:
          if (key.startsWith('Fn::')) throw new UnresolvableError(`Unsupported intrinsic ${key}`);
      }
    }
    return Object.fromEntries(Object.entries(node).map(([key, value]) => [key, this.resolve(value)]));
  }
}

/** A function as SAM sees it: Globals merged under the function's own properties. */
export interface FunctionSpec {
  logicalId: string;
  handler: string;
  timeoutSeconds: number;
  memoryMb: number;
  environment: Record<string, Json>;
  events: Record<string, { Type: string; Properties: Record<string, Json> }>;
  properties: Record<string, Json>;
}

const isIntrinsic = (node: Json): boolean => {
  if (node === null || typeof node !== 'object' || Array.isArray(node)) return false;
  const keys = Object.keys(node);
  return (
    keys.length === 1 && (keys[0] === 'Ref' || keys[0] === 'Condition' || String(keys[0]).startsWith('Fn::'))
  );
};

/** SAM's Globals rule: maps merge key by key, lists concatenate (globals first), anything else the function wins. */
const mergeGlobals = (global: Json, local: Json): Json => {
  if (Array.isArray(global) && Array.isArray(local)) return [...global, ...local];
  const isMap = (node: Json) =>
    node !== null && typeof node === 'object' && !Array.isArray(node) && !isIntrinsic(node);
  if (!isMap(global) || !isMap(local)) return local;
  const merged: Record<string, Json> = { ...(global as Record<string, Json>) };
  for (const [key, value] of Object.entries(local as Record<string, Json>)) {
    const inherited = merged[key];
    merged[key] = inherited === undefined ? value : mergeGlobals(inherited, value);
  }
  return merged;
};

export const functionsOf = (template: Template): FunctionSpec[] => {
  const globals = (template.Globals?.Function ?? {}) as Json;
  return Object.entries(template.Resources)
    .filter(([, resource]) => resource.Type === 'AWS::Serverless::Function')
    .map(([logicalId, resource]) => {
      const props = mergeGlobals(globals, (resource.Properties ?? {}) as Json) as Record<string, Json>;
      const env = (props.Environment as { Variables?: Record<string, Json> } | undefined)?.Variables;
      return {
        logicalId,
        handler: String(props.Handler ?? 'index.handler'),
        timeoutSeconds: Number(props.Timeout ?? 3),
        memoryMb: Number(props.MemorySize ?? 128),
        environment: { ...(env ?? {}) },
        events: (props.Events ?? {}) as FunctionSpec['events'],
        properties: props,
      };
    });
};

export const resourcesOfType = (template: Template, type: string): [string, Resource][] =>
  Object.entries(template.Resources).filter(([, resource]) => resource.Type === type);
