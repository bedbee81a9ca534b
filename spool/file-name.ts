import { randomBytes } from 'node:crypto';

const MS_DIGITS = 15;
const SEQ_DIGITS = 12;
const NAME = /^(\d{15})-\d{12}-[0-9a-f]{8}\.json$/;

/**
 * Hands out spool file names whose lexical order is the order they were handed out:
 * `<ms since epoch, 15 digits>-<sequence, 12 digits>-<process tag, 8 hex>.json`.
 * The millisecond never goes backwards (a clock step back reuses the last one, and `floorMs`
 * puts a new process after the files an earlier one left), and the sequence orders names within
 * a millisecond. The random per-process tag keeps names unique even if two processes meet.
 *
 * @example
 * const names = new FileNames(0);
 * names.next() // '001718000000000-000000000001-3fa9c2d1.json'
 */
export class FileNames {
  private lastMs: number;
  private seq = 0;
  private readonly tag = randomBytes(4).toString('hex');

  constructor(floorMs: number) {
    this.lastMs = floorMs;
  }

  next(): string {
    this.lastMs = Math.max(Date.now(), this.lastMs);
    this.seq += 1;
    return `${this.prefix(this.lastMs, this.seq)}-${this.tag}.json`;
  }

  /** A string that sorts after every name handed out so far and before every later one. */
  bound(): string {
    return this.prefix(this.lastMs, this.seq + 1);
  }

  private prefix(ms: number, seq: number): string {
    return `${String(ms).padStart(MS_DIGITS, '0')}-${String(seq).padStart(SEQ_DIGITS, '0')}`;
  }
}

/** The millisecond a spool file name carries, or undefined when the name is not one of ours. */
export function fileNameMs(name: string): number | undefined {
  const match = NAME.exec(name);
  return match ? Number(match[1]) : undefined;
}
