/**
 * The lab's rewrite of a Prometheus configuration for Debian's binary (no Kubernetes
 * discovery, see discovery.ts): each `kubernetes_sd_configs` entry becomes an
 * `http_sd_configs` entry polling the discovery server of `ambit lab app prometheus` on the
 * pod's loopback. Everything else (relabel rules, intervals, other jobs) stays as written.
 */
import { parse, stringify } from 'yaml';
import { AmbitError } from '../../../errors.js';

/** What one kubernetes_sd_configs entry asks for. */
export interface SdRequest {
  role: string;
  /** `namespaces.names`; empty = all namespaces. */
  namespaces: string[];
}

type Doc = { scrape_configs?: Record<string, unknown>[] } & Record<string, unknown>;

export interface Rewritten {
  yaml: string;
  /** The discovery requests, by the index used in their URL path. */
  requests: SdRequest[];
}

/** How often Prometheus polls the discovery server (its own default, 60 s, is slow for a lab). */
export const REFRESH_INTERVAL = '5s';

export function rewriteConfig(text: string, sdBaseUrl: string): Rewritten {
  let doc: Doc;
  try {
    doc = (parse(text) ?? {}) as Doc;
  } catch (err) {
    throw new AmbitError('PROMETHEUS_BAD_CONFIG', 'the Prometheus configuration is not YAML', {
      value: text.slice(0, 80),
      hint: 'check the ConfigMap mounted at --config.file',
      cause: err,
    });
  }
  const requests: SdRequest[] = [];
  for (const sc of doc.scrape_configs ?? []) {
    const k8s = sc.kubernetes_sd_configs as Record<string, unknown>[] | undefined;
    if (!k8s) continue;
    const http = (sc.http_sd_configs as Record<string, unknown>[] | undefined) ?? [];
    for (const sd of k8s) {
      const role = typeof sd.role === 'string' ? sd.role : '';
      const ns = (sd.namespaces as { names?: unknown } | undefined)?.names;
      requests.push({
        role,
        namespaces: Array.isArray(ns) ? ns.filter((n): n is string => typeof n === 'string') : [],
      });
      http.push({
        url: `${sdBaseUrl}/sd/${requests.length - 1}`,
        refresh_interval: REFRESH_INTERVAL,
      });
    }
    delete sc.kubernetes_sd_configs;
    sc.http_sd_configs = http;
  }
  return { yaml: stringify(doc), requests };
}

/** The value of `--flag=v` or `--flag v` in a command line. */
export function flagValue(args: string[], flag: string): string | undefined {
  for (let i = 0; i < args.length; i++) {
    const a = args[i]!;
    if (a.startsWith(`${flag}=`)) return a.slice(flag.length + 1);
    if (a === flag) return args[i + 1];
  }
  return undefined;
}
