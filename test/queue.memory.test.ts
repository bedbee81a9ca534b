import { describe, expect, it } from 'vitest';
import { MemoryQueue } from '../backends/memory/queue.js';
import { queueContract } from './queue-contract.js';

queueContract('MemoryQueue', (clock) => new MemoryQueue({ now: clock.now }));

describe('MemoryQueue options', () => {
  it('delays the rest of a compound item by compoundDelayMs', async () => {
    let now = 1_000_000;
    const queue = new MemoryQueue({ now: () => now, compoundDelayMs: 500 });
    await queue.push('a', 0, [{ id: 'c1' }, { id: 'c2' }], 'high');
    expect((await queue.pop())?.entry.id).toBe('c1');
    now += 499;
    expect(await queue.pop()).toBeNull();
    now += 1;
    expect((await queue.pop())?.entry.id).toBe('c2');
  });

  it('releases a token after leaseMs', async () => {
    let now = 1_000_000;
    const queue = new MemoryQueue({ now: () => now, leaseMs: 2_000 });
    await queue.push('a', 0, { id: 'a1' }, 'high');
    const first = await queue.pop();
    now += 1_999;
    expect(await queue.pop()).toBeNull();
    now += 1;
    const again = await queue.pop();
    expect(again?.entry.id).toBe('a1');
    await queue.complete(first!.token);
    await queue.complete(again!.token);
    expect(await queue.size()).toBe(0);
  });
});
