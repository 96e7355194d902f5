// The scan side of a release (src/store/releases.ts): a message whose exact bytes were released from quarantine
// passes without scanning. The hash is only computed while the allow-list is non-empty, so mail pays nothing for it
// until someone releases a message.
import { createHash } from 'node:crypto';
import type { ReleaseEntry, Releases } from '../store/releases.js';
import { openSource, type MessageSource } from './source.js';

export async function sha256Of(src: MessageSource): Promise<string> {
  if ('bytes' in src) return createHash('sha256').update(src.bytes).digest('hex');
  const h = createHash('sha256');
  for await (const chunk of openSource(src)) h.update(chunk as Buffer);
  return h.digest('hex');
}

export async function releaseFor(releases: Releases, src: MessageSource): Promise<ReleaseEntry | undefined> {
  if (!releases.any()) return undefined;
  return releases.get(await sha256Of(src));
}
