#!/usr/bin/env node
'use strict';
// The `rbroker` executable: the CLI is TypeScript, run without a build step through tsx (installed by
// `npm ci`), which compiles each module as it is loaded.
require('tsx/cjs');
require('../cli/main.ts').run();
