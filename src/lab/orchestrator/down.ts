/**
 * `ambit lab down`: stops every process the lab started (daemons, then pod processes, then
 * anything still living in the lab's namespaces), deletes the namespaces `<N>-*`,
 * `/etc/netns/<N>-*`, any mount under the state directory, and the state directory. Works
 * from the record and from name prefixes, so it also cleans up after a failed `up`.
 */
import { existsSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { run } from '../../sys/exec.js';
import { netnsDelete, netnsList, netnsPids } from '../../sys/ip.js';
import { isOurs, readPidFile, stopProcess } from '../../sys/process.js';
import { labPaths } from '../cluster/paths.js';
import { readCreated } from '../net/record.js';
import { listPidFiles } from './daemons.js';

const DAEMON_GRACE_MS = 5000;
const POD_GRACE_MS = 3000;

function mountsUnder(prefixes: string[]): string[] {
  let text = '';
  try {
    text = readFileSync('/proc/self/mountinfo', 'utf8');
  } catch {
    return [];
  }
  const out: string[] = [];
  for (const line of text.split('\n')) {
    const mp = line.split(' ')[4];
    if (mp && prefixes.some((p) => mp === p || mp.startsWith(p + '/'))) out.push(mp);
  }
  // Deepest first so nested mounts come off before their parents.
  return out.sort((a, b) => b.length - a.length);
}

export async function labDown(name: string, print: (l: string) => void): Promise<number> {
  const paths = labPaths(name);
  const removed: string[] = [];
  const note = (what: string) => {
    removed.push(what);
    print(`  removed ${what}`);
  };

  // 1. Daemons first (kubelets would restart the containers we stop), apiserver last.
  const files = listPidFiles(paths);
  const isPod = (f: string) => f.startsWith('pod-');
  const order = (f: string) => (f.startsWith('kubelet-') ? 0 : f === 'apiserver.pid' ? 2 : 1);
  const daemonFiles = files.filter((f) => !isPod(f)).sort((a, b) => order(a) - order(b));
  for (const group of [0, 1, 2]) {
    await Promise.all(
      daemonFiles
        .filter((f) => order(f) === group)
        .map(async (f) => {
          const rec = readPidFile(join(paths.pids, f));
          if (rec && isOurs(rec) && (await stopProcess(rec.pid, DAEMON_GRACE_MS)))
            note(`process ${rec.pid} (${f.replace(/\.pid$/, '')})`);
        }),
    );
  }
  // 2. Pod processes the kubelets recorded (each leads its own process group).
  await Promise.all(
    files.filter(isPod).map(async (f) => {
      const rec = readPidFile(join(paths.pids, f));
      if (rec && isOurs(rec) && (await stopProcess(rec.pid, POD_GRACE_MS, true)))
        note(`process ${rec.pid} (${f.replace(/\.pid$/, '')})`);
    }),
  );

  // 3. Namespaces: recorded ones and every `<N>-*`; whatever still runs inside them is ours.
  const recorded = readCreated(paths.created)
    .filter((c) => c.kind === 'netns')
    .map((c) => (c as { name: string }).name);
  const all = new Set([
    ...recorded,
    ...(await netnsList()).filter((n) => n.startsWith(`${name}-`)),
  ]);
  const rank = (n: string) => (n === `${name}-underlay` ? 2 : /-p[0-9a-f]{8}$/.test(n) ? 0 : 1);
  const namespaces = [...all].sort((a, b) => rank(a) - rank(b));
  for (const ns of namespaces) {
    const pids = await netnsPids(ns);
    await Promise.all(
      pids.map(async (pid) => {
        if (await stopProcess(pid, POD_GRACE_MS)) note(`process ${pid} (in netns ${ns})`);
      }),
    );
  }
  for (const ns of namespaces) {
    if (await netnsDelete(ns)) note(`netns ${ns}`);
  }

  // 4. Per-pod resolv.conf directories.
  if (existsSync('/etc/netns')) {
    for (const d of readdirSync('/etc/netns')) {
      if (!d.startsWith(`${name}-`)) continue;
      rmSync(join('/etc/netns', d), { recursive: true, force: true });
      note(`/etc/netns/${d}`);
    }
  }

  // 4b. The eBPF redirection backend's pins (programs and maps outlive the lab's namespaces).
  const pins = join('/sys/fs/bpf', `ambit-${name}`);
  if (existsSync(pins)) {
    rmSync(pins, { recursive: true, force: true });
    note(pins);
  }

  // 5. Mounts (none are made by design; a crashed tool may have left one) and the state dir.
  for (const mp of mountsUnder([paths.dir, ...namespaces.map((n) => `/run/netns/${n}`)])) {
    const r = await run('umount', ['-l', mp], { allowFail: true });
    if (r.code === 0) note(`mount ${mp}`);
  }
  if (existsSync(paths.dir)) {
    rmSync(paths.dir, { recursive: true, force: true });
    note(`state directory ${paths.dir}`);
  }
  print(removed.length === 0 ? `lab ${name}: nothing to remove` : `lab ${name} is down`);
  return 0;
}
