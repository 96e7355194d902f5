#!/usr/bin/env node
// The bin loads compiled output; `npm ci` builds it through the `prepare` script.
import('../dist/src/cli/main.js').then((m) => m.main(process.argv));
