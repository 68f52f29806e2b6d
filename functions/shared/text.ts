// Text from files and errors reaches reasons, notifications, DynamoDB items and terminals. These helpers
// keep it bounded and printable: a reason is read by a person, stored in an item under 400 KB and sent
// through Step Functions, SNS and terminals that must not be driven by the data's own control sequences.

/** Controls (C0, DEL, C1), format characters (zero-width, bidi overrides, BOM), separators, lone surrogates. */
const UNPRINTABLE =
  /[\p{Cc}\p{Cf}\p{Zl}\p{Zp}]|[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/gu;

const escapeOf = (char: string): string => {
  const code = char.codePointAt(0) ?? 0;
  return `\\u{${code.toString(16).toUpperCase().padStart(4, '0')}}`;
};

/** `text` with every unprintable character written as `\u{XXXX}`, cut to at most `max` code points. */
export const printable = (text: string, max = 200): string => {
  const escaped = text.replace(UNPRINTABLE, escapeOf);
  const chars = [...escaped]; // code points, so an emoji is never cut in half
  return chars.length <= max ? escaped : `${chars.slice(0, max - 1).join('')}…`;
};

/** A quoted, bounded, printable excerpt of a cell for a reason: `"abc"` or `"abc…"`. */
export const excerpt = (text: string, max = 40): string => `"${printable(text, max)}"`;

/** The first unprintable character of `text`, named as `U+XXXX`, or undefined. */
export const firstUnprintable = (text: string): string | undefined => {
  const match = text.match(new RegExp(UNPRINTABLE.source, 'u'));
  return match === null
    ? undefined
    : `U+${(match[0].codePointAt(0) ?? 0).toString(16).toUpperCase().padStart(4, '0')}`;
};

export const REASON_MAX_CHARS = 500;
