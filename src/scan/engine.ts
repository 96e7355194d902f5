// What every scan engine implements. The pipeline runs engines in configured order and combines their verdicts.
import type { MessageSource } from './source.js';
import type { Verdict } from './types.js';

export interface ScanInput {
  source: MessageSource;
  size: number;
  connId?: string;
}

export interface Engine {
  readonly name: string;
  /** Never throws: a failure to scan is an `error` verdict that says why. */
  scan(input: ScanInput): Promise<Verdict>;
  close?(): Promise<void>;
}
