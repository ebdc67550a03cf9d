// See timeout-30s.ts: synthesising and bundling the stack takes longer than jest's default.
jest.setTimeout(120_000);
