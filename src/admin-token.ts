import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { newToken } from './api/auth.js';

const FILE = 'admin-token';

/**
 * The admin token when `HERALD_ADMIN_TOKEN` is not set: read from `<dataDir>/admin-token`, or
 * generated on first start and written there (readable by its owner only). `generated` says
 * whether it is new, so the caller prints it that once.
 *
 * @example const { token, generated } = await storedAdminToken('./data');
 */
export async function storedAdminToken(dataDir: string): Promise<{ token: string; generated: boolean }> {
  const path = join(dataDir, FILE);
  try {
    const token = (await readFile(path, 'utf8')).trim();
    if (token.length >= 16) return { token, generated: false };
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
  }
  await mkdir(dataDir, { recursive: true });
  const token = newToken();
  await writeFile(path, `${token}\n`, { mode: 0o600 });
  return { token, generated: true };
}
