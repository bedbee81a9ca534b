import { v7, validate, version } from 'uuid';
import { describe, expect, it } from 'vitest';
import { newUuid, uuidFloor } from '../src/uuid.js';

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

describe('uuidFloor', () => {
  it('sorts above every uuid v7 made before its millisecond and at or below every one made in it or later', () => {
    const at = new Date('2026-11-16T09:30:00.250Z');
    const floor = uuidFloor(at);
    expect(validate(floor)).toBe(true);
    expect(version(floor)).toBe(7);
    const before = Array.from({ length: 200 }, (_, i) => v7({ msecs: at.getTime() - 1 - i * 997 }));
    const after = Array.from({ length: 200 }, (_, i) => v7({ msecs: at.getTime() + i * 997 }));
    // Byte order, as Postgres compares uuids: for lowercase hex strings, the same as string order.
    for (const uuid of before) expect(uuid < floor).toBe(true);
    for (const uuid of after) expect(uuid >= floor).toBe(true);
  });

  it('stays a uuid for times a uuid v7 cannot hold', () => {
    expect(uuidFloor(new Date(-1))).toBe('00000000-0000-7000-8000-000000000000');
    expect(uuidFloor(new Date(8.64e15))).toBe('ffffffff-ffff-7000-8000-000000000000');
  });
});
