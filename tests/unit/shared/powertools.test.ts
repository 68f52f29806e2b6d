import { afterEach, describe, expect, it, vi } from 'vitest';
import { logger, metrics } from '../../../functions/shared/powertools.ts';

describe('powertools', () => {
  afterEach(() => {
    vi.restoreAllMocks();
  });

  it("sends Metrics' own warnings through the JSON logger, never as plain console text", () => {
    const warned = vi.spyOn(logger, 'warn').mockImplementation(() => undefined);
    const plain = vi.spyOn(console, 'warn').mockImplementation(() => undefined);

    metrics.publishStoredMetrics();

    expect(warned).toHaveBeenCalledWith(expect.stringMatching(/^No application metrics to publish/));
    expect(plain).not.toHaveBeenCalled();
  });
});
