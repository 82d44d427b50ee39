/**
 * The waypoint's current config: replaced only by a config that validates and compiles, so a
 * bad push (or the control plane going away) leaves the last good one serving.
 */
import { AmbitError, errorMessage } from '../../errors.js';
import type { Logger } from '../../log.js';
import { compileConfig, type CompiledConfig } from './compiled.js';
import { validateConfig } from './validate.js';

export interface ConfigStatus {
  version?: string;
  appliedAt?: string;
  lastError?: { version?: string; error: string; at: string };
  warnings: string[];
}

export class ConfigStore {
  private current?: CompiledConfig;
  private status: ConfigStatus = { warnings: [] };
  private readonly listeners: ((c: CompiledConfig) => void)[] = [];

  constructor(private readonly log: Logger) {}

  /** The config in force; undefined until the first good one. */
  get(): CompiledConfig | undefined {
    return this.current;
  }

  /** Validates and compiles `raw`; on failure keeps the current config and throws. */
  apply(raw: unknown): CompiledConfig {
    const version = (raw as { version?: unknown } | null)?.version;
    try {
      const compiled = compileConfig(validateConfig(raw));
      this.current = compiled;
      this.status = {
        version: compiled.source.version,
        appliedAt: new Date().toISOString(),
        warnings: compiled.warnings,
      };
      for (const w of compiled.warnings)
        this.log.warn('config warning', { version: compiled.source.version, warning: w });
      this.log.info('config applied', {
        version: compiled.source.version,
        services: compiled.source.services.length,
        routes:
          compiled.source.httpRoutes.length +
          compiled.source.grpcRoutes.length +
          (compiled.source.tcpRoutes?.length ?? 0),
        policies: compiled.source.authorizationPolicies.length,
      });
      for (const l of this.listeners) l(compiled);
      return compiled;
    } catch (err) {
      this.status.lastError = {
        version: typeof version === 'string' ? version : undefined,
        error: errorMessage(err),
        at: new Date().toISOString(),
      };
      this.log.warn('config rejected, keeping the last good one', {
        version,
        kept: this.current?.source.version,
        error: errorMessage(err),
      });
      throw err instanceof AmbitError
        ? err
        : new AmbitError(
            'WAYPOINT_CONFIG_INVALID',
            `waypoint config rejected: ${errorMessage(err)}`,
            { cause: err },
          );
    }
  }

  onChange(l: (c: CompiledConfig) => void): void {
    this.listeners.push(l);
  }

  dumpStatus(): ConfigStatus {
    return this.status;
  }
}
