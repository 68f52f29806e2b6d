import { afterEach, describe, expect, it, vi } from 'vitest';
import { numberEnv, requireEnv } from '../../../functions/shared/config.ts';
import { MissingConfigError } from '../../../functions/shared/errors.ts';

describe('configuration', () => {
  afterEach(() => {
    vi.unstubAllEnvs();
  });

  it('reads a required variable', () => {
    vi.stubEnv('SOME_SETTING', 'value');

    expect(requireEnv('SOME_SETTING')).toBe('value');
  });

  it.each([
    ['missing', undefined],
    ['empty', ''],
  ])('fails with MissingConfigError naming a required variable that is %s', (_case, value) => {
    vi.stubEnv('SOME_SETTING', value);

    expect(() => requireEnv('SOME_SETTING')).toThrow(new MissingConfigError('SOME_SETTING'));
  });

  it('reads a number, or its default when the variable is unset', () => {
    vi.stubEnv('CHUNK_SIZE', '2500');

    expect(numberEnv('CHUNK_SIZE', 10)).toBe(2500);
    expect(numberEnv('UNSET_NUMBER', 10)).toBe(10);
  });

  it('refuses a number setting that is not a number rather than fall back silently', () => {
    vi.stubEnv('CHUNK_SIZE', 'ten thousand');

    expect(() => numberEnv('CHUNK_SIZE', 10)).toThrow(MissingConfigError);
  });
});
