import { describe, expect, it } from 'vitest';
import { isConnectionError } from '../backends/postgres/connection-error.js';
import { CommitTimeout, GroupCommit } from '../backends/postgres/group-commit.js';

const refused = () => Object.assign(new Error('connect ECONNREFUSED 127.0.0.1:5432'), { code: 'ECONNREFUSED' });

describe('GroupCommit', () => {
  it('gathers concurrent calls into one commit and answers each its own result', async () => {
    const commits: number[][] = [];
    const batches = new GroupCommit<number, number>(async (jobs) => {
      commits.push(jobs);
      return jobs.map((j) => j * 10);
    }, () => 1);
    expect(await Promise.all([1, 2, 3].map((j) => batches.submit(j)))).toEqual([10, 20, 30]);
    expect(commits).toEqual([[1, 2, 3]]);
  });

  it('fails callers with a CommitTimeout, counted as unreachable, when the database stops answering', async () => {
    const batches = new GroupCommit<number, number>(
      async (jobs) => (jobs.includes(1) ? new Promise<number[]>(() => {}) : jobs),
      () => 1,
      { timeoutMs: 50, maxConcurrent: 1 },
    );
    const err = await batches.submit(1).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(CommitTimeout);
    expect(isConnectionError(err)).toBe(true);
    // The hung transaction no longer holds the only slot: the next batch goes ahead.
    expect(await batches.submit(7)).toBe(7);
  });

  it('after a bad row, retries callers one by one so only the bad one fails', async () => {
    const batches = new GroupCommit<number, number>(async (jobs) => {
      if (jobs.includes(2)) throw new Error('bad row 2');
      return jobs;
    }, () => 1);
    const results = await Promise.allSettled([1, 2, 3].map((j) => batches.submit(j)));
    expect(results.map((r) => r.status)).toEqual(['fulfilled', 'rejected', 'fulfilled']);
  });

  it('stops retrying one by one once the database is unreachable: the rest fail at once', async () => {
    let calls = 0;
    const batches = new GroupCommit<number, number>(async (jobs) => {
      calls += 1;
      if (jobs.length > 1) throw new Error('bad row');
      throw refused();
    }, () => 1);
    const results = await Promise.allSettled([1, 2, 3, 4].map((j) => batches.submit(j)));
    expect(results.every((r) => r.status === 'rejected' && isConnectionError(r.reason))).toBe(true);
    expect(calls).toBe(2);
  });
});
