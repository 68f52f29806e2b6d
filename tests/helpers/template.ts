import { readFileSync } from 'node:fs';
import { parse, type Tags } from 'yaml';

// CloudFormation short-form intrinsics, kept as { 'Fn::…': value } so the tests can tell them from plain values.
const intrinsic = (tag: string, key: string, kinds: ('scalar' | 'seq' | 'map')[]): Tags =>
  kinds.map((kind) =>
    kind === 'scalar'
      ? { tag: `!${tag}`, resolve: (value: string) => ({ [key]: value }) }
      : {
          tag: `!${tag}`,
          collection: kind,
          resolve: (value: { toJSON: () => unknown }) => ({ [key]: value.toJSON() }),
        },
  ) as Tags;

const CLOUDFORMATION_TAGS: Tags = [
  ...intrinsic('Ref', 'Ref', ['scalar']),
  ...intrinsic('Sub', 'Fn::Sub', ['scalar', 'seq']),
  ...intrinsic('GetAtt', 'Fn::GetAtt', ['scalar', 'seq']),
  ...intrinsic('If', 'Fn::If', ['seq']),
  ...intrinsic('Not', 'Fn::Not', ['seq']),
  ...intrinsic('Equals', 'Fn::Equals', ['seq']),
  ...intrinsic('And', 'Fn::And', ['seq']),
  ...intrinsic('Or', 'Fn::Or', ['seq']),
  ...intrinsic('Join', 'Fn::Join', ['seq']),
  ...intrinsic('Select', 'Fn::Select', ['seq']),
  ...intrinsic('Split', 'Fn::Split', ['seq']),
  ...intrinsic('FindInMap', 'Fn::FindInMap', ['seq']),
  ...intrinsic('GetAZs', 'Fn::GetAZs', ['scalar']),
  ...intrinsic('ImportValue', 'Fn::ImportValue', ['scalar', 'map']),
  ...intrinsic('Base64', 'Fn::Base64', ['scalar', 'map']),
  ...intrinsic('Condition', 'Condition', ['scalar']),
];

export interface Resource {
  Type: string;
  Properties?: Record<string, unknown>;
  Metadata?: Record<string, unknown>;
  Condition?: string;
}

export interface Template {
  Resources: Record<string, Resource>;
  Parameters?: Record<string, unknown>;
  Globals?: Record<string, unknown>;
}

export const TEMPLATE_URL = new URL('../../template.yaml', import.meta.url);

/** template.yaml as plain data, short-form tags turned into their long form. */
export const loadTemplate = (): Template =>
  parse(readFileSync(TEMPLATE_URL, 'utf8'), { customTags: CLOUDFORMATION_TAGS }) as Template;

/** Column names of a Glue table in the template, in order. */
export const glueColumnsOf = (template: Template, logicalId: string): string[] => {
  const input = template.Resources[logicalId]?.Properties?.TableInput as
    | { StorageDescriptor?: { Columns?: { Name: string }[] } }
    | undefined;
  return (input?.StorageDescriptor?.Columns ?? []).map((column) => column.Name);
};
