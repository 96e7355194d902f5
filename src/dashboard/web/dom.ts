// The few browser globals the dashboard uses, typed here rather than through TypeScript's DOM library, which would
// apply to the server code too (see standalone.d.ts). Only app.ts and charts.ts touch these.
export interface El {
  querySelector(sel: string): El | null;
  clientWidth: number;
  textContent: string | null;
}

export interface BrowserEventSource {
  addEventListener(type: string, fn: (e: { data: string }) => void): void;
  close(): void;
  onerror: ((e: unknown) => void) | null;
}

export interface Browser {
  document: { getElementById(id: string): El | null; title: string };
  location: { hash: string; pathname: string };
  history: { replaceState(state: unknown, title: string, url: string): void };
  addEventListener(type: string, fn: () => void): void;
  confirm(msg: string): boolean;
  EventSource: new (url: string) => BrowserEventSource;
}

export const browser = globalThis as unknown as Browser;
