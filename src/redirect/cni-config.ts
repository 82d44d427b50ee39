/**
 * The node's CNI configuration, as istio-cni's install-cni treats it: the agent does not
 * write a network of its own; it appends its plugin (type `ambit-cni`) to the node's primary
 * conflist (the first `*.conflist` by name, the one the runtime uses) and removes exactly that
 * entry on uninstall. Writes go through a rename, so the runtime never reads half a file.
 */
import { existsSync, readdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { AmbitError } from '../errors.js';

export const PLUGIN_TYPE = 'ambit-cni';

interface ConfList {
  cniVersion?: string;
  name?: string;
  plugins?: ({ type?: string } & Record<string, unknown>)[];
}

/** The runtime's choice: the first `*.conflist` in `dir` by name, if any. */
export function primaryConflist(dir: string): string | undefined {
  if (!existsSync(dir)) return undefined;
  const f = readdirSync(dir)
    .filter((n) => n.endsWith('.conflist'))
    .sort()[0];
  return f ? join(dir, f) : undefined;
}

function load(file: string): ConfList {
  try {
    return JSON.parse(readFileSync(file, 'utf8')) as ConfList;
  } catch (err) {
    throw new AmbitError('CNI_BAD_CONFIG', `cannot parse ${file}`, {
      value: file,
      hint: 'fix or remove the file; the agent chains into the first *.conflist',
      cause: err,
    });
  }
}

function save(file: string, conf: ConfList): void {
  writeFileSync(`${file}.ambit.tmp`, JSON.stringify(conf, null, 2) + '\n');
  renameSync(`${file}.ambit.tmp`, file);
}

/**
 * Appends (or updates) our plugin at the end of the primary conflist's chain. Returns the
 * file, or throws when the node has no pod network configured yet.
 */
export function chainPlugin(dir: string, plugin: Record<string, unknown>): string {
  const file = primaryConflist(dir);
  if (!file) {
    throw new AmbitError('CNI_NO_PRIMARY_CONFIG', `no *.conflist in ${dir}`, {
      value: dir,
      hint: "the node's pod network (its CNI plugin) must be installed first; the agent chains into it",
    });
  }
  const conf = load(file);
  const want = { ...plugin, type: PLUGIN_TYPE };
  const others = (conf.plugins ?? []).filter((p) => p.type !== PLUGIN_TYPE);
  const mine = (conf.plugins ?? []).filter((p) => p.type === PLUGIN_TYPE);
  const last = conf.plugins?.[conf.plugins.length - 1];
  if (mine.length === 1 && last?.type === PLUGIN_TYPE && sameJson(last, want)) return file;
  save(file, { ...conf, plugins: [...others, want] });
  return file;
}

/** Removes our plugin from every conflist in `dir` (the rest of each file stays as it was). */
export function unchainPlugin(dir: string): string[] {
  if (!existsSync(dir)) return [];
  const changed: string[] = [];
  for (const n of readdirSync(dir).filter((f) => f.endsWith('.conflist'))) {
    const file = join(dir, n);
    let conf: ConfList;
    try {
      conf = load(file);
    } catch {
      continue;
    }
    const plugins = conf.plugins ?? [];
    if (!plugins.some((p) => p.type === PLUGIN_TYPE)) continue;
    save(file, { ...conf, plugins: plugins.filter((p) => p.type !== PLUGIN_TYPE) });
    changed.push(file);
  }
  return changed;
}

function sameJson(a: unknown, b: unknown): boolean {
  return JSON.stringify(a) === JSON.stringify(b);
}
