#!/usr/bin/env node
'use strict';
// The repository's `rbroker` (the root package.json's bin, `npx rbroker` after `npm ci`): the CLI's TypeScript
// run without a build step through tsx, which compiles each module as it is loaded, so an edit shows at once.
// The published package (client/package.json) runs its build instead: dist/bin/rbroker.js, from ./rbroker.ts.
require('tsx/cjs');
require('../cli/main.ts').run();
