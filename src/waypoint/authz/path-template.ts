/**
 * AuthorizationPolicy `paths` with `{*}` / `{**}` operators (Envoy URI templates, as Istio
 * documents them): `{*}` is exactly one path segment, `{**}` one or more segments and only as the
 * last operator; each operator fills a whole segment. Paths without `{` are Istio string matches.
 */
import { AmbitError } from '../../errors.js';
import { istioStringMatch, type StringPred } from './string-match.js';

export function isTemplate(pattern: string): boolean {
  return pattern.includes('{');
}

function escapeRe(s: string): string {
  return s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}

/** Compiles a path pattern; throws WAYPOINT_POLICY_PATH for a malformed template. */
export function pathMatcher(pattern: string): StringPred {
  if (!isTemplate(pattern)) return istioStringMatch(pattern);
  const bad = (why: string) =>
    new AmbitError('WAYPOINT_POLICY_PATH', `path template ${JSON.stringify(pattern)}: ${why}`, {
      value: pattern,
      hint: 'use {*} for one segment and {**} only as the last segment, e.g. /api/{*}/items/{**}',
    });
  if (!pattern.startsWith('/')) throw bad('must start with /');
  const segments = pattern.slice(1).split('/');
  let re = '^';
  segments.forEach((seg, i) => {
    re += '/';
    if (seg === '{*}') re += '[^/]+';
    else if (seg === '{**}') {
      if (i !== segments.length - 1) throw bad('{**} must be the last segment');
      re += '[^/]+(?:/[^/]*)*';
    } else if (seg.includes('{') || seg.includes('}')) throw bad(`bad segment ${seg}`);
    else re += escapeRe(seg);
  });
  const rx = new RegExp(re + '$');
  return (v) => v !== undefined && rx.test(v);
}
