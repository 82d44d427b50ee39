/** `ambit controlplane`: the control plane (istiod): delta xDS and CA. */
export { run } from '../controlplane/main.js';
