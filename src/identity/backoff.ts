/** Exponential backoff with jitter, as ztunnel's SecretManager: 500 ms ×2, ±20 %, capped at 150 s. */
export interface BackoffPolicy {
  initialMs: number;
  multiplier: number;
  maxMs: number;
  /** Fraction of the delay added or removed at random. */
  jitter: number;
}

export const CERT_BACKOFF: BackoffPolicy = {
  initialMs: 500,
  multiplier: 2,
  maxMs: 150_000,
  jitter: 0.2,
};

export class Backoff {
  private next: number;

  constructor(
    private readonly p: BackoffPolicy = CERT_BACKOFF,
    private readonly random: () => number = Math.random,
  ) {
    this.next = p.initialMs;
  }

  /** The delay to wait now; the following one grows. */
  delay(): number {
    const base = this.next;
    this.next = Math.min(this.next * this.p.multiplier, this.p.maxMs);
    const j = base * this.p.jitter * (this.random() * 2 - 1);
    return Math.max(0, Math.min(base + j, this.p.maxMs));
  }

  reset(): void {
    this.next = this.p.initialMs;
  }
}
