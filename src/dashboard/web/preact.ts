// The browser gets htm's standalone Preact build at this URL (server.ts serves node_modules/htm/preact/
// standalone.mjs in place of this file's compiled output); Node, running the view tests, resolves the same module
// through this re-export. One copy of Preact either way, and no build step.
export { html, render, h, useState, useEffect, useRef, useMemo, useCallback } from 'htm/preact/standalone';
export type { VNode } from 'htm/preact/standalone';
