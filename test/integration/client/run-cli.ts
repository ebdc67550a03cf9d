/**
 * `rbroker` as users run it: a real child process (client/bin/rbroker.cjs), pointed at a local stack through
 * its stack file, so exit codes, output streams and signals are real. Every run is bounded in time.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { join } from 'node:path';

export const LAUNCHER = join(__dirname, '..', '..', '..', 'client', 'bin', 'rbroker.cjs');

export interface Run {
  code: number | null;
  stdout: string;
  stderr: string;
}

export interface Started {
  child: ChildProcess;
  result: Promise<Run>;
  /** Resolves with the first stdout match of `pattern`. */
  waitForOutput(pattern: RegExp): Promise<RegExpMatchArray>;
  /** Resolves with the first stderr match of `pattern`. */
  waitForError(pattern: RegExp): Promise<RegExpMatchArray>;
  /** What it has printed so far. */
  output(): Run;
}

export interface RunOptions {
  stackFile: string;
  env?: Record<string, string>;
  /** The run is killed (and its promise rejected) after this long. Default 20 s. */
  timeoutMs?: number;
}

export function startRbroker(args: string[], options: RunOptions): Started {
  const timeoutMs = options.timeoutMs ?? 20_000;
  const childEnv: NodeJS.ProcessEnv = { ...process.env, RBROKER_STACK_FILE: options.stackFile, ...options.env };
  delete childEnv.RBROKER_ENDPOINT;
  const child = spawn(process.execPath, [LAUNCHER, ...args], { env: childEnv, stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  const watchers: Array<() => void> = [];
  child.stdout?.on('data', (chunk: Buffer) => {
    stdout += chunk.toString('utf8');
    for (const watcher of watchers) watcher();
  });
  child.stderr?.on('data', (chunk: Buffer) => {
    stderr += chunk.toString('utf8');
    for (const watcher of watchers) watcher();
  });
  const result = new Promise<Run>((resolve, reject) => {
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`rbroker ${args.join(' ')} did not end within ${timeoutMs} ms\nstdout: ${stdout}\nstderr: ${stderr}`));
    }, timeoutMs);
    child.once('error', reject);
    child.once('close', (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr });
    });
  });
  const waitFor = (pattern: RegExp, text: () => string) =>
    new Promise<RegExpMatchArray>((resolve, reject) => {
      const check = () => {
        const match = pattern.exec(text());
        if (match) resolve(match);
      };
      watchers.push(check);
      check();
      result.then(() => reject(new Error(`rbroker ended before printing ${pattern}:\nstdout: ${stdout}\nstderr: ${stderr}`)), reject);
    });
  return {
    child,
    result,
    waitForOutput: (pattern) => waitFor(pattern, () => stdout),
    waitForError: (pattern) => waitFor(pattern, () => stderr),
    output: () => ({ code: child.exitCode, stdout, stderr }),
  };
}
