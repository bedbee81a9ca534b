import { validate, version } from 'uuid';
import { describe, expect, it } from 'vitest';
import { newUuid } from '../src/uuid.js';

describe('newUuid', () => {
  it('makes valid, distinct uuid v7s that ascend, within a millisecond and across the random pool refills', () => {
    const uuids = Array.from({ length: 5_000 }, () => newUuid());
    for (const uuid of uuids.slice(0, 50)) {
      expect(validate(uuid)).toBe(true);
      expect(version(uuid)).toBe(7);
    }
    expect(new Set(uuids).size).toBe(uuids.length);
    expect([...uuids].sort()).toEqual(uuids);
  });

  it('carries the time it was made', () => {
    const before = Date.now();
    const uuid = newUuid();
    const ms = Number.parseInt(uuid.replaceAll('-', '').slice(0, 12), 16);
    expect(ms).toBeGreaterThanOrEqual(before);
    expect(ms).toBeLessThanOrEqual(Date.now());
  });
});
