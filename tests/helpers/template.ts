import { fileURLToPath } from 'node:url';
import { loadTemplate as loadTemplateFile, type Template } from '../../local/template.ts';

export type { Resource, Template } from '../../local/template.ts';

export const TEMPLATE_URL = new URL('../../template.yaml', import.meta.url);

/** template.yaml as plain data, short-form tags turned into their long form (the offline runtime's reader). */
export const loadTemplate = (): Template => loadTemplateFile(fileURLToPath(TEMPLATE_URL));

/** Column names of a Glue table in the template, in order. */
export const glueColumnsOf = (template: Template, logicalId: string): string[] => {
  const input = template.Resources[logicalId]?.Properties?.TableInput as
    | { StorageDescriptor?: { Columns?: { Name: string }[] } }
    | undefined;
  return (input?.StorageDescriptor?.Columns ?? []).map((column) => column.Name);
};
