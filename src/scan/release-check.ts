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

/**
 * The release check of a message scanned live: hashed as it arrives when the allow-list was non-empty at its start
 * (`digest` then set), else from the complete message if something was released meanwhile.
 */
export async function releaseFor(
  releases: ReleaseList,
  src: MessageSource,
  digest?: () => string,
): Promise<ReleaseEntry | undefined> {
  if (!releases.any()) return undefined;
  return releases.get(digest ? digest() : await sha256Of(src));
}

/** A SHA-256 fed chunk by chunk, for a message scanned while it arrives. */
export function liveSha256(): { update(chunk: Buffer): void; digest(): string } {
  const h = createHash('sha256');
  let hex: string | undefined;
  return {
    update: (chunk) => void h.update(chunk),
    digest: () => (hex ??= h.digest('hex')),
  };
}
