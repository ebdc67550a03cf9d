#!/usr/bin/env node
'use strict';
// `rbroker`, the root package's bin. In this repository (`npx rbroker` after `npm ci`) it is the client's
// TypeScript run through tsx: ../client/bin/rbroker.cjs. npm packs every bin, so this file also ships in the
// construct package (`npm pack` at the root), which holds no client: there it runs the CLI of
// @remoteit-broker/client when the app has that package, and otherwise says where the CLI is.
const { existsSync, readFileSync } = require('node:fs');
const path = require('node:path');

const inRepository = path.join(__dirname, '..', 'client', 'bin', 'rbroker.cjs');
if (existsSync(inRepository)) {
  require(inRepository);
} else {
  let manifest;
  try {
    manifest = require.resolve('@remoteit-broker/client/package.json', { paths: [process.cwd(), __dirname] });
  } catch {
    manifest = undefined;
  }
  if (manifest) {
    const { bin } = JSON.parse(readFileSync(manifest, 'utf8'));
    require(path.join(path.dirname(manifest), typeof bin === 'string' ? bin : bin.rbroker));
  } else {
    process.stderr.write('rbroker is the CLI of @remoteit-broker/client, a package of its own: npm install @remoteit-broker/client, then npx rbroker.\n');
    process.exitCode = 1;
  }
}
