/**
 * The whole bench report in one markdown: L4 (report.ts: mesh vs direct and stunnel, eBPF
 * redirection), L7 (l7-report.ts: waypoint vs HAProxy) and the control plane vs scale
 * (scale-controlplane.ts's markdown, embedded under its own heading).
 */
import { l7Markdown, l7Targets } from './l7-report.js';
import {
  markdown,
  runsSection,
  targets,
  type Failure,
  type Sample,
  type Stats,
  type Target,
} from './report.js';

/** Every target of the run, L4 and L7, for the JSON. */
export function allTargets(s: Stats): Target[] {
  return [...targets(s), ...l7Targets(s).filter((t) => Number.isFinite(t.measured))];
}

/** Drops the scale report's own title and demotes its headings under "Control plane vs scale". */
export function scaleSection(md: string): string[] {
  const body = md
    .split('\n')
    .filter((l) => !/^# /.test(l))
    .map((l) => (l.startsWith('#') ? `##${l}` : l));
  while (body[0] === '') body.shift();
  return ['', '## Control plane vs scale (bench/scale-controlplane.ts)', '', ...body];
}

export function reportMarkdown(
  s: Stats,
  meta: Record<string, string>,
  scaleMd?: string,
  runs?: { samples: Sample[]; failures: Failure[] },
): string {
  const lines = [
    markdown(s, meta).trimEnd(),
    ...(runs ? runsSection(runs.samples, runs.failures) : []),
    ...l7Markdown(s),
  ];
  if (scaleMd) lines.push(...scaleSection(scaleMd));
  return lines.join('\n').trimEnd() + '\n';
}
