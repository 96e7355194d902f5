// The scan side of a release (src/store/releases.ts): a message whose exact bytes were released from quarantine
// passes without scanning. The hash is only computed while the allow-list is non-empty, so mail pays nothing for it
// until someone releases a message.
import { createHash } from 'node:crypto';
import { openSource, type MessageSource } from './source.js';

export interface ReleaseEntry {
  sha256: string;
  releasedAt: string;
  releasedBy: string;
}

/** The allow-list as the scan sees it (src/store/releases.ts). */
export interface ReleaseList {
  any(): boolean;
  get(sha256: string): ReleaseEntry | undefined;
}

export async function sha256Of(src: MessageSource): Promise<string> {
  if ('bytes' in src) return createHash('sha256').update(src.bytes).digest('hex');
  const h = createHash('sha256');
  for await (const chunk of openSource(src)) h.update(chunk as Buffer);
  return h.digest('hex');
}

export async function releaseFor(releases: ReleaseList, src: MessageSource): Promise<ReleaseEntry | undefined> {
  if (!releases.any()) return undefined;
  return releases.get(await sha256Of(src));
}
