#!/usr/bin/env node
/**
 * The installed package's `rbroker` executable: built to dist/bin/rbroker.js (plain JavaScript, no tsx). In the
 * repository `npx rbroker` runs ./rbroker.cjs instead, which loads the TypeScript sources through tsx.
 */
import { run } from '../cli/main';

run();
