/** The report of `bench/scale-capture.ts`: a table per backend and size, and its curve. */
import { lineSvg } from './plot.js';

export interface Spread {
  median: number;
  max: number;
}

export interface CaptureRow {
  backend: string;
  /** Pods enrolled on the node before the measured one. */
  pods: number;
  /** 1-minute load average when the row started. */
  load: number;
  samples: number;
  /** ADD request → the agent's reply (capture in place). */
  add: Spread;
  /** ADD request → the first connection ztunnel's :15001 took. */
  addTraffic: Spread;
  /** DEL request → the agent's reply. */
  del: Spread;
  /** DEL request → the first connection that reached the server itself. */
  delTraffic: Spread;
  /** Wall clock of enrolling this row's new pods (`enrolled`), 2 ADDs at a time. */
  enrolSeconds: number;
  enrolled: number;
}

const ms = (s: Spread) => `${s.median.toFixed(0)} (${s.max.toFixed(0)})`;

export function captureSvg(rows: CaptureRow[]): string {
  const backends = [...new Set(rows.map((r) => r.backend))];
  return lineSvg({
    title: 'Capture update time vs enrolled pods on the node (median)',
    xLabel: 'enrolled pods (log scale)',
    yLabel: 'ms',
    xLog: true,
    series: backends.flatMap((b) => {
      const of = rows.filter((r) => r.backend === b);
      return [
        { name: `${b}: ADD → redirected`, points: of.map((r) => [r.pods, r.addTraffic.median]) },
        { name: `${b}: DEL → direct`, points: of.map((r) => [r.pods, r.delTraffic.median]) },
      ] as { name: string; points: [number, number][] }[];
    }),
  });
}

export function captureMarkdown(
  rows: CaptureRow[],
  meta: { cpus: number; node: string; chart: { svg: string; png?: string } },
): string {
  const l = [
    `# Capture update time vs enrolled pods — ${new Date().toISOString().slice(0, 10)}, Node ${meta.node}`,
    '',
    'One node (its own netns), the real node agent (`src/redirect/agent.ts`, informers on an',
    'in-process API server) and backend; every pod is a netns wired to the node by a veth. With',
    '*pods* enrolled, one more pod is added by CNI ADD (the request `ambit cni plugin` sends, to',
    "the agent's socket) and removed by CNI DEL, *samples* times. Times in ms, median (max):",
    "ADD → the agent's reply (capture in place); ADD → the first connection from the new pod to",
    "the server that ztunnel's :15001 accepted with the server as its original destination; DEL →",
    'reply; DEL → the first connection that reached the server itself. Load: the 1-minute load',
    `average when the row started, on ${meta.cpus} CPUs.`,
    '',
    '| backend | enrolled pods | load | samples | ADD → captured | ADD → redirected | DEL → released | DEL → direct | enrolling the row’s new pods |',
    '|---|---|---|---|---|---|---|---|---|',
  ];
  for (const r of rows) {
    l.push(
      `| ${r.backend} | ${r.pods} | ${r.load.toFixed(1)} | ${r.samples} | ${ms(r.add)} | ${ms(r.addTraffic)} | ${ms(r.del)} | ${ms(r.delTraffic)} | ${r.enrolled} in ${r.enrolSeconds.toFixed(1)} s (${((r.enrolSeconds * 1000) / Math.max(1, r.enrolled)).toFixed(0)} ms each) |`,
    );
  }
  l.push('', `![capture update time vs enrolled pods](${meta.chart.png ?? meta.chart.svg})`, '');
  return l.join('\n');
}
