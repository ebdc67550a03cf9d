/**
 * Shell completion: `rbroker completion bash|zsh` prints a script generated from the parser's own tables
 * (cli/args.ts), so commands and options never drift from what the CLI accepts. Connection ids and profile
 * names come from the hidden `rbroker __complete ids|profiles`, which the script runs: live connection ids
 * from the API (bounded to ~2 s) and the config file's profile names, printing nothing on any error, as a
 * completion must never write into the user's command line.
 */
import { parseArgs } from 'node:util';
import { BrokerClient } from '../client';
import { COMMANDS, GLOBAL, takesValue, type Command, type OptionName } from './args';
import { configFilePath, readProfileNames } from './profiles';
import { CONNECTION_MODES, CONNECTION_STATUSES } from '../types';
import { resolveTarget } from './target';

/** How long `__complete ids` may take in all: a completion that hangs is worse than none. */
export const COMPLETE_TIMEOUT_MS = 2_000;
const LIVE = new Set(['pending', 'active', 'stopping']);
/** Commands whose argument is one of the caller's connection ids. */
const CONNECTION_ID_COMMANDS = ['get', 'renew', 'stop'] as const satisfies ReadonlyArray<Command['name']>;
/** Options the script passes on to `__complete ids`: they say which API to ask and as whom. */
const TARGET_OPTIONS: readonly OptionName[] = ['endpoint', 'stack', 'as', 'profile', 'region'];

const flags = (options: readonly OptionName[]) => options.map((option) => `--${option}`).join(' ');
const commandNames = Object.keys(COMMANDS) as Array<keyof typeof COMMANDS>;
const valued = commandNames
  .flatMap((name): readonly OptionName[] => COMMANDS[name].options)
  .concat(GLOBAL)
  .filter((option, index, all) => takesValue(option) && all.indexOf(option) === index);

/** `--mode`, `--status`: their values; `--profile`: the config file's names; other values: nothing offered. */
function valueCases(indent: string, offer: (words: string) => string, offerCommand: (args: string) => string): string {
  const others = valued.filter((option) => !['mode', 'status', 'profile'].includes(option)).map((option) => `--${option}`);
  return [
    `${indent}--mode) ${offer(CONNECTION_MODES.join(' '))}; return ;;`,
    `${indent}--status) ${offer(CONNECTION_STATUSES.join(' '))}; return ;;`,
    `${indent}--profile) ${offerCommand('__complete profiles')}; return ;;`,
    `${indent}${others.join('|')}) return ;;`,
  ].join('\n');
}

/** The per-command options, as `case` arms. */
function optionCases(indent: string, offer: (words: string) => string): string {
  return commandNames.map((name) => `${indent}${name}) ${offer(`${flags([...COMMANDS[name].options, ...GLOBAL])}`)} ;;`).join('\n');
}

/** What differs between the two shells' scripts; the rest of `_rbroker` is written once, by `functionBody`. */
interface Shell {
  /** The command line's words, and the index of the first after `rbroker`. */
  words: string;
  firstWord: number;
  /** The word being completed, as a `for` bound and as the previous word. */
  current: string;
  previous: string;
  /** The word being completed, tested for a leading `-`. */
  prefix: string;
  offer: (words: string) => string;
  offerCommand: (args: string) => string;
  /** Lines that empty the offers before any is made ('' where none is needed). */
  clear: string;
}

/** `_rbroker`'s body from its `for` loop on: skip the options (keeping those `__complete ids` needs), then offer. */
function functionBody(shell: Shell): string {
  const { offer, offerCommand } = shell;
  return `  for ((i = ${shell.firstWord}; i < ${shell.current}; i++)); do
    word="\${${shell.words}[i]}"
    case "$word" in
      ${flags(TARGET_OPTIONS).replaceAll(' ', '|')}) pass+=("$word" "\${${shell.words}[i+1]}"); ((i++)); continue ;;
      ${valued.filter((option) => !TARGET_OPTIONS.includes(option)).map((option) => `--${option}`).join('|')}) ((i++)); continue ;;
      -*) continue ;;
    esac
    if [[ -z "$command" ]]; then command="$word"; else ((positionals++)); fi
  done
${shell.clear}  case "${shell.previous}" in
${valueCases('    ', offer, offerCommand)}
  esac
  if [[ -z "$command" ]]; then
    if [[ "${shell.prefix}" == -* ]]; then ${offer(`${flags(GLOBAL)} --version`)}; else ${offer([...commandNames, 'help'].join(' '))}; fi
    return
  fi
  if [[ "${shell.prefix}" == -* ]]; then
    case "$command" in
${optionCases('      ', offer)}
    esac
    return
  fi
  ((positionals > 0)) && return
  case "$command" in
    ${CONNECTION_ID_COMMANDS.join('|')}) ${offerCommand('__complete ids')} ;;
    help) ${offer(commandNames.join(' '))} ;;
    completion) ${offer('bash zsh')} ;;
  esac
}`;
}

export function bashScript(): string {
  const body = functionBody({
    words: 'COMP_WORDS',
    firstWord: 1,
    current: 'COMP_CWORD',
    previous: '$prev',
    prefix: '$cur',
    clear: '  COMPREPLY=()\n',
    offer: (words) => `COMPREPLY=($(compgen -W "${words}" -- "$cur"))`,
    offerCommand: (args) => `COMPREPLY=($(compgen -W "$(command rbroker ${args} "\${pass[@]}" 2>/dev/null)" -- "$cur"))`,
  });
  return `# rbroker bash completion: source <(rbroker completion bash)
_rbroker() {
  local cur="\${COMP_WORDS[COMP_CWORD]}" prev="\${COMP_WORDS[COMP_CWORD-1]}"
  local command="" word i positionals=0
  local -a pass=()
${body}
complete -F _rbroker rbroker
`;
}

export function zshScript(): string {
  const body = functionBody({
    words: 'words',
    firstWord: 2,
    current: 'CURRENT',
    previous: '${words[CURRENT-1]}',
    prefix: '$PREFIX',
    clear: '',
    offer: (words) => `compadd -- ${words}`,
    offerCommand: (args) => `compadd -- \${(f)"$(command rbroker ${args} "\${pass[@]}" 2>/dev/null)"}`,
  });
  return `#compdef rbroker
# rbroker zsh completion: source <(rbroker completion zsh) after compinit, or save it as _rbroker in $fpath
_rbroker() {
  local command="" word i positionals=0
  local -a pass
  pass=()
${body}
if [[ "\${zsh_eval_context[-1]}" == loadautofunc ]]; then
  _rbroker "$@"
else
  compdef _rbroker rbroker
fi
`;
}

/** The live connections' ids, one a line; nothing at all on any error or after COMPLETE_TIMEOUT_MS. */
async function liveConnectionIds(argv: readonly string[], env: Record<string, string | undefined>): Promise<string[]> {
  const options = Object.fromEntries(TARGET_OPTIONS.map((option) => [option, { type: 'string' as const }]));
  const { values } = parseArgs({ args: [...argv], options, strict: true, allowPositionals: false });
  const target = await resolveTarget({ endpoint: values.endpoint, stackFile: values.stack, as: values.as, region: values.region, profile: values.profile }, env);
  const client = new BrokerClient({ ...target.client, timeoutMs: COMPLETE_TIMEOUT_MS, retry: { maxAttempts: 1 } });
  const page = await client.listPage({ limit: 100 }, { signal: AbortSignal.timeout(COMPLETE_TIMEOUT_MS) });
  return page.items.filter((connection) => LIVE.has(connection.status)).map((connection) => connection.id);
}

/** `rbroker __complete ids|profiles [target options]`: always exit 0, and print nothing when anything fails. */
export async function complete(argv: readonly string[], stdout: NodeJS.WritableStream, env: Record<string, string | undefined> = process.env): Promise<number> {
  const [what, ...rest] = argv;
  let timer: NodeJS.Timeout | undefined;
  const work =
    what === 'ids' ? liveConnectionIds(rest, env) : what === 'profiles' ? readProfileNames(configFilePath(env)) : Promise.resolve([]);
  const bounded = new Promise<string[]>((resolve) => {
    timer = setTimeout(() => resolve([]), COMPLETE_TIMEOUT_MS);
    timer.unref();
  });
  const words = await Promise.race([work, bounded]).catch((): string[] => []);
  clearTimeout(timer);
  if (words.length > 0) stdout.write(`${words.join('\n')}\n`);
  return 0;
}
