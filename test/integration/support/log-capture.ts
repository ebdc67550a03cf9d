/**
 * Everything the in-process handlers write to their log stream (Powertools writes JSON lines to stdout and
 * stderr), captured for a whole test file, and a scan of it for secret values. The scan reports where a
 * secret appeared by name and line number, never the value.
 */

export interface OutputCapture {
  /** Every non-empty line written to stdout or stderr since the capture started. */
  readonly lines: string[];
  /** Gives the streams back; the lines stay readable. */
  restore(): void;
}

/** Starts capturing stdout and stderr of this worker (Jest's own reporting goes through the parent). */
export function captureOutput(): OutputCapture {
  const lines: string[] = [];
  const spies = [process.stdout, process.stderr].map((stream) =>
    jest.spyOn(stream, 'write').mockImplementation((chunk: string | Uint8Array) => {
      lines.push(...String(chunk).split('\n').filter((line) => line.trim() !== ''));
      return true;
    }),
  );
  return {
    lines,
    restore: () => {
      for (const spy of spies) spy.mockRestore();
    },
  };
}

/** Shorter values would match by chance (and no credential this project handles is that short). */
const MIN_SECRET_LENGTH = 8;

/**
 * Where any of `secrets` (name -> value) appears in `lines`, as `name in line N`. Values are also looked for
 * in the forms a log line could carry them: JSON-escaped and URL-encoded.
 */
export function secretLeaks(lines: readonly string[], secrets: Record<string, string | undefined>): string[] {
  const forms = Object.entries(secrets).flatMap(([name, value]) => {
    if (value === undefined || value.length < MIN_SECRET_LENGTH) return [];
    const variants = new Set([value, JSON.stringify(value).slice(1, -1), encodeURIComponent(value)]);
    return [...variants].map((variant) => ({ name, variant }));
  });
  const leaks: string[] = [];
  lines.forEach((line, index) => {
    for (const { name, variant } of forms) {
      if (line.includes(variant)) leaks.push(`${name} in line ${index + 1}`);
    }
  });
  return [...new Set(leaks)];
}
