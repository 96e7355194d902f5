// Types for htm's standalone Preact build (Preact + hooks + htm in one file, no imports), declared here for what
// the dashboard uses. Preact's own typings pull in the DOM library for the whole compilation, which clashes with
// Node's WebCrypto types used by the server side; the browser code reaches the DOM through web/dom.ts instead.
declare module 'htm/preact/standalone' {
  export interface VNode {
    type: unknown;
    props: Record<string, unknown> & { children?: unknown };
    key?: unknown;
  }
  export function html(strings: TemplateStringsArray, ...values: unknown[]): VNode;
  export function h(type: unknown, props: Record<string, unknown> | null, ...children: unknown[]): VNode;
  export function render(tree: VNode, parent: unknown): void;
  export function useState<T>(initial: T | (() => T)): [T, (v: T | ((prev: T) => T)) => void];
  export function useEffect(effect: () => void | (() => void), deps?: unknown[]): void;
  export function useRef<T>(initial: T): { current: T };
  export function useMemo<T>(fn: () => T, deps: unknown[]): T;
  export function useCallback<T extends (...args: never[]) => unknown>(fn: T, deps: unknown[]): T;
}
