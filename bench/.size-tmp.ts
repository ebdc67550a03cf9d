import { bundleLikeCdk } from './cold-start';
import { statSync } from 'node:fs';
async function main() {
  const entry = process.argv[2] ?? 'lambdas/handlers/connections-write.ts';
  const out = '/tmp/sizecheck/index.js';
  const meta = await bundleLikeCdk(entry, out);
  console.log(entry, statSync(out).size);
  const totals = new Map<string, number>();
  for (const output of Object.values(meta.outputs)) for (const [file, input] of Object.entries(output.inputs)) {
    const pkg = /node_modules\/((?:@[^/]+\/)?[^/]+(?:\/[^/]+)?)/.exec(file)?.[1];
    const key = pkg ?? file.split('/').slice(0, 3).join('/');
    totals.set(key, (totals.get(key) ?? 0) + input.bytesInOutput);
  }
  for (const [k, v] of [...totals].sort((a, b) => b[1] - a[1]).slice(0, 30)) console.log(String(v).padStart(8), k);
}
main();
