// What the IMAP session keeps about commands in flight and FETCH responses on their way to the client (session.ts
// holds the logic; these are its records).
import type { AppendMessage, AppendState } from './append.js';
import type { ContentItem, FetchItemParser } from './fetch.js';
import type { FetchPlan } from './fetch-command.js';
import type { Group, Slot } from './ordered.js';
import type { CachedVerdict } from './verdict-cache.js';

/** A client command the server has not answered yet. */
export interface InFlight {
  verb: string;
  partials: Map<string, number>;
  mailbox?: string;
  uidvalidity?: number;
  /** Set when a content item of this FETCH could not be scanned: the tagged reply becomes NO [UNAVAILABLE]. */
  failed?: string;
  append?: AppendState;
  /** FETCH: what the shield changed in the command (fetch-command.ts). */
  plan?: FetchPlan;
}

export type LiteralSink =
  | { to: 'upstream'; group: Group }
  | { to: 'client'; group: Group }
  | { to: 'drop' }
  | { to: 'capture'; id: number }
  | { to: 'part'; part: HeldPart }
  | { to: 'desc'; desc: HeldDesc }
  | { to: 'divert'; divert: Divert };

/** One FETCH response travelling to the client. */
export interface FetchContext {
  parser: FetchItemParser;
  info: InFlight | null;
  epochKey: string | null;
  group: Group;
  /** Hold slots of this response, so a failure can settle them. */
  slots: Slot[];
  parts: HeldPart[];
  /** Items that describe the message (header, ENVELOPE, ...), held until its verdict is known. */
  descs: HeldDesc[];
  /** Verdicts of whole-message captures that finished before the response named its UID. */
  verdicts: CachedVerdict[];
  /** Whole-message captures of this response still being scanned. */
  fullPending: number;
  /** A value being taken out of the stream to be changed. */
  divert: Divert | null;
  /** The response carries an item that sets \Seen when fetched without .PEEK. */
  content: boolean;
  /** Whether the server's FLAGS (asked for by the shield, or the client) had \Seen. */
  flagsSeen: boolean | null;
  done: boolean;
  failed: boolean;
}

/** An item that describes the message: its original bytes, sent as they are or replaced once the verdict is known. */
export interface HeldDesc {
  ctx: FetchContext;
  slot: Slot;
  name: string;
  data: Buffer[];
  bytes: number;
  done: boolean;
}

export type Divert =
  | { kind: 'quoted'; name: string; data: Buffer[] }
  | { kind: 'flags'; data: Buffer[] }
  | { kind: 'desc'; desc: HeldDesc; data: Buffer[] };

export type Waiter = { kind: 'part'; part: HeldPart } | { kind: 'desc'; desc: HeldDesc };

/** A part or range of a message, held until the whole message has a verdict. */
export interface HeldPart {
  ctx: FetchContext;
  slot: Slot;
  item: ContentItem;
  itemKey: string;
  marker: Buffer;
  binary: boolean;
  data: Buffer[];
  bytes: number;
}

/** The shield's own `UID FETCH uid (UID BODY.PEEK[])` of a whole message. */
export interface OwnFetch {
  tag: string;
  uid: number;
  key: string;
  captureId: number | null;
}

export type Capture =
  | { kind: 'full'; ctx: FetchContext; slot: Slot; binary: boolean; size: number; failed: boolean }
  | { kind: 'own'; own: OwnFetch; size: number; failed: boolean }
  | { kind: 'append'; msg: AppendMessage; state: AppendState; failed: boolean };

/** Partial-fetch counts are keyed like response items: `BODY[1.2]`. */
export function itemKey(item: ContentItem): string {
  return `${item.kind}[${item.section}]`;
}
