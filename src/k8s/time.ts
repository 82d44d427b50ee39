/**
 * Kubernetes' `metav1.Time` on the wire: RFC 3339 in UTC with whole seconds
 * (`2026-01-02T03:04:05Z`), the form the API server writes into creationTimestamp, conditions'
 * lastTransitionTime and the like. `Date.toISOString()` adds milliseconds, which a real API
 * server never sends, so every such timestamp goes through here.
 */
export function kubeTime(at: number | Date = Date.now()): string {
  return new Date(at).toISOString().replace(/\.\d+Z$/, 'Z');
}
