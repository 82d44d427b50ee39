/** Names the installed objects share with the components that look for them. */
export const CNI_DAEMONSET = 'istio-cni-node';
export const ZTUNNEL_DAEMONSET = 'ztunnel';
