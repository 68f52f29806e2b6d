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

export const matchesPattern = (pattern: Pattern, event: unknown): boolean =>
  Object.entries(pattern).every(([key, expected]) => {
    const container = event !== null && typeof event === 'object' ? (event as Record<string, unknown>) : {};
    const present = key in container;
    const value = container[key];
    if (Array.isArray(expected)) {
      const values = Array.isArray(value) ? value : [value];
      return expected.some((rule) => values.some((candidate) => matchesRule(rule, candidate, present)));
    }
    return present && matchesPattern(expected, value);
  });

/** Lambda keeps a record when any one of the filters matches it. */
export const compileFilters = (
  filters: { Pattern: string }[] | undefined,
): ((record: unknown) => boolean) => {
  if (filters === undefined || filters.length === 0) return () => true;
  const patterns = filters.map((filter) => JSON.parse(filter.Pattern) as Pattern);
  return (record) => patterns.some((pattern) => matchesPattern(pattern, record));
};
