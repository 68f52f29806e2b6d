// EventBridge-style content filtering for Lambda event source mapping FilterCriteria.
// Written here rather than delegated to the emulator's TestEventPattern because it runs once per stream
// record on the hot path (hundreds of thousands per file) and an HTTP round trip per record would dominate.
// It covers the operators Lambda filters accept; an unknown operator throws instead of silently matching.

type Pattern = { [key: string]: Pattern | Rule[] };
type Rule = string | number | boolean | null | { [operator: string]: unknown };

const matchesNumeric = (value: unknown, spec: unknown[]): boolean => {
  if (typeof value !== 'number') return false;
  for (let i = 0; i < spec.length; i += 2) {
    const operator = spec[i];
    const bound = Number(spec[i + 1]);
    const ok =
      (operator === '=' && value === bound) ||
      (operator === '<' && value < bound) ||
      (operator === '<=' && value <= bound) ||
      (operator === '>' && value > bound) ||
      (operator === '>=' && value >= bound);
    if (!ok) return false;
  }
  return true;
};

const wildcard = (pattern: string) =>
  new RegExp(
    `^${pattern
      .split('*')
      .map((part) => part.replace(/[.+?^${}()|[\]\\]/g, '\\$&'))
      .join('.*')}$`,
  );

const matchesRule = (rule: Rule, value: unknown, present: boolean): boolean => {
  if (rule === null || typeof rule !== 'object') return present && value === rule;
  const [operator, argument] = Object.entries(rule)[0] ?? [];
  switch (operator) {
    case 'prefix':
      return typeof value === 'string' && value.startsWith(String(argument));
    case 'suffix':
      return typeof value === 'string' && value.endsWith(String(argument));
    case 'equals-ignore-case':
      return typeof value === 'string' && value.toLowerCase() === String(argument).toLowerCase();
    case 'wildcard':
      return typeof value === 'string' && wildcard(String(argument)).test(value);
    case 'exists':
      return present === Boolean(argument);
    case 'numeric':
      return matchesNumeric(value, argument as unknown[]);
    case 'anything-but': {
      if (!present) return false;
      if (Array.isArray(argument)) return !argument.includes(value);
      if (argument !== null && typeof argument === 'object')
        return !matchesRule(argument as Rule, value, present);
      return value !== argument;
    }
    default:
      throw new Error(`Filter operator ${String(operator)} is not supported offline`);
  }
};

const OPERATORS = new Set([
  'prefix',
  'suffix',
  'equals-ignore-case',
  'wildcard',
  'exists',
  'numeric',
  'anything-but',
]);

const isRecord = (value: unknown): value is Record<string, unknown> =>
  value !== null && typeof value === 'object' && !Array.isArray(value);

const NOTHING: Record<string, unknown> = {};

/** Scalars at one path: arrays are flattened, objects are not leaves (EventBridge flattens events to leaf paths). */
const leavesOf = (value: unknown[], into: unknown[] = []): unknown[] => {
  for (const item of value) {
    if (Array.isArray(item)) leavesOf(item, into);
    else if (item === null || typeof item !== 'object') into.push(item);
  }
  return into;
};

const matchesLeaf = (rules: Rule[], container: Record<string, unknown>, key: string): boolean => {
  const value = container[key];
  if (key in container && (value === null || typeof value !== 'object'))
    return rules.some((rule) => matchesRule(rule, value, true));
  const leaves = Array.isArray(value) ? leavesOf(value) : [];
  // No scalar at this path (missing, an object or an empty array): only `exists: false` can match.
  if (leaves.length === 0) return rules.some((rule) => matchesRule(rule, undefined, false));
  return rules.some((rule) => leaves.some((leaf) => matchesRule(rule, leaf, true)));
};

export const matchesPattern = (pattern: Pattern, event: unknown): boolean => {
  // Arrays of objects are "crushed": the pattern matches when one element matches all of it, so fields never
  // pair up across different elements (EventBridge's array-consistent matching).
  if (Array.isArray(event) && event.length > 0) return event.some((item) => matchesPattern(pattern, item));
  const container = isRecord(event) ? event : NOTHING;
  return Object.entries(pattern).every(([key, expected]) =>
    Array.isArray(expected)
      ? matchesLeaf(expected, container, key)
      : matchesPattern(expected, container[key]),
  );
};

/** Rejects what Lambda rejects when the event source mapping is created, instead of at the first record. */
const validate = (pattern: unknown, path: string): void => {
  if (!isRecord(pattern)) throw new Error(`Filter pattern ${path || '(root)'} must be an object`);
  for (const [key, expected] of Object.entries(pattern)) {
    const at = path ? `${path}.${key}` : key;
    if (!Array.isArray(expected)) {
      validate(expected, at);
      continue;
    }
    for (const rule of expected) {
      if (!isRecord(rule)) continue;
      const operators = Object.keys(rule);
      const [operator] = operators;
      if (operators.length !== 1 || operator === undefined || !OPERATORS.has(operator))
        throw new Error(`Filter operator ${operators.join(', ') || '{}'} at ${at} is not supported offline`);
    }
  }
};

/** Lambda keeps a record when any one of the filters matches it. */
export const compileFilters = (
  filters: { Pattern: string }[] | undefined,
): ((record: unknown) => boolean) => {
  if (filters === undefined || filters.length === 0) return () => true;
  const patterns = filters.map((filter) => {
    const pattern = JSON.parse(filter.Pattern) as unknown;
    validate(pattern, '');
    return pattern as Pattern;
  });
  return (record) => patterns.some((pattern) => matchesPattern(pattern, record));
};
