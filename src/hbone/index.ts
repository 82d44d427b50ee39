/** The HBONE layer's public surface for the rest of ztunnel. */
export { createHboneClient, poolKey, type HboneClientOptions } from './client.js';
export { createHboneServer, type HboneServer, type HboneServerTuning } from './server.js';
export { acceptAndSplice, decideThenSplice, type SpliceDecision } from './handoff.js';
export { parseAuthority, type Authority } from './authority.js';
export { HBONE_DEFAULTS } from './settings.js';
export * from './types.js';
