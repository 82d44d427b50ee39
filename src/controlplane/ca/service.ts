/**
 * istio.v1.auth.IstioCertificateService/CreateCertificate with Istio's node authorization
 * (security/pkg/server/ca/node_auth.go): a caller may impersonate a workload identity only if it
 * is a trusted node agent (istio-system/ztunnel by default), its own pod exists with the uid its
 * token is bound to, and at least one pod with the requested namespace + service account is
 * scheduled on the caller's node. A caller without impersonation gets only its own identity.
 */
import * as grpc from '@grpc/grpc-js';
import { parseSpiffeId, spiffeId } from '../../api/workload.js';
import { AmbitError, errorMessage } from '../../errors.js';
import type { Pod } from '../../k8s/types.js';
import type { Logger } from '../../log.js';
import { IMPERSONATED_IDENTITY, type CertRequest, type CertResponse } from '../../xds/wire.js';
import { bearerToken, type Authenticator, type Caller } from '../auth.js';
import type { CertificateAuthority } from './authority.js';

export interface PodSource {
  getPod(namespace: string, name: string): Promise<Pod | undefined>;
  listPods(namespace: string): Promise<Pod[]>;
}

export interface CaServiceOptions {
  ca: CertificateAuthority;
  authenticator: Authenticator;
  pods: PodSource;
  /** `namespace/serviceaccount` allowed to impersonate (default istio-system/ztunnel). */
  trustedAccounts: string[];
  log: Logger;
}

function denied(message: string): AmbitError {
  return new AmbitError('CA_PERMISSION_DENIED', message, {
    hint: 'a ztunnel may only obtain identities of pods scheduled on its own node',
  });
}

const grpcCode: Record<string, grpc.status> = {
  CA_BAD_CSR: grpc.status.INVALID_ARGUMENT,
  CA_TTL: grpc.status.INVALID_ARGUMENT,
  CA_PERMISSION_DENIED: grpc.status.PERMISSION_DENIED,
  CP_UNAUTHENTICATED: grpc.status.UNAUTHENTICATED,
};

export function toGrpcError(err: unknown): Partial<grpc.StatusObject> {
  const code =
    err instanceof AmbitError ? (grpcCode[err.code] ?? grpc.status.INTERNAL) : grpc.status.INTERNAL;
  return { code, details: errorMessage(err) };
}

const live = (p: Pod) =>
  !p.metadata.deletionTimestamp && p.status?.phase !== 'Succeeded' && p.status?.phase !== 'Failed';

/** Checks that `caller` may obtain `identity`; returns the caller's node. */
export async function authorizeImpersonation(
  opts: CaServiceOptions,
  caller: Caller,
  identity: string,
): Promise<string> {
  const account = `${caller.namespace}/${caller.serviceAccount}`;
  if (!opts.trustedAccounts.includes(account))
    throw denied(
      `${caller.username} may not request ${identity}: only ${opts.trustedAccounts.join(', ')} may impersonate`,
    );
  const id = parseSpiffeId(identity);
  if (!id)
    throw new AmbitError('CA_BAD_CSR', `malformed SPIFFE identity ${JSON.stringify(identity)}`, {
      value: identity,
      hint: 'use spiffe://<td>/ns/<ns>/sa/<sa>',
    });
  if (!caller.podName || !caller.podUid)
    throw denied(`the token of ${caller.username} is not bound to a pod`);
  const pod = await opts.pods.getPod(caller.namespace, caller.podName);
  if (!pod || pod.metadata.uid !== caller.podUid)
    throw denied(
      `caller pod ${caller.namespace}/${caller.podName} (uid ${caller.podUid}) does not exist`,
    );
  if ((pod.spec?.serviceAccountName ?? 'default') !== caller.serviceAccount)
    throw denied(`caller pod ${caller.namespace}/${caller.podName} does not run as ${account}`);
  const node = pod.spec?.nodeName;
  if (!node) throw denied(`caller pod ${caller.namespace}/${caller.podName} is not on a node`);
  const candidates = await opts.pods.listPods(id.namespace);
  const onNode = candidates.some(
    (p) =>
      live(p) &&
      p.spec?.nodeName === node &&
      (p.spec.serviceAccountName ?? 'default') === id.serviceAccount,
  );
  if (!onNode)
    throw denied(
      `no pod with identity ${identity} is scheduled on node ${node} (caller ${caller.namespace}/${caller.podName})`,
    );
  return node;
}

export function createCertificateHandler(
  opts: CaServiceOptions,
): grpc.handleUnaryCall<CertRequest, CertResponse> {
  return (call, callback) => {
    let who = 'unauthenticated';
    const run = async (): Promise<CertResponse> => {
      const token = bearerToken(call.metadata);
      if (!token)
        throw new AmbitError('CP_UNAUTHENTICATED', 'no bearer token in the call metadata', {
          hint: 'send `authorization: Bearer <service-account token>`',
        });
      const caller = await opts.authenticator.authenticate(token).catch((err: unknown) => {
        if (err instanceof AmbitError && err.code === 'CP_UNAUTHENTICATED') throw err;
        throw new AmbitError('CP_UNAUTHENTICATED', `token review failed: ${errorMessage(err)}`, {
          cause: err,
        });
      });
      who = caller.username;
      const req = call.request;
      const impersonated = req.metadata[IMPERSONATED_IDENTITY];
      let node: string | undefined;
      if (impersonated !== undefined) {
        node = await authorizeImpersonation(opts, caller, impersonated);
        const signed = await opts.ca.signCsr(req.csr, impersonated, req.validityDuration);
        opts.log.info('issued certificate', {
          identity: signed.identity,
          caller: caller.username,
          node,
          notAfter: signed.notAfter.toISOString(),
        });
        return { certChain: signed.chain };
      }
      const own = spiffeId(opts.ca.trustDomain, caller.namespace, caller.serviceAccount);
      const signed = await opts.ca.signCsr(req.csr, undefined, req.validityDuration);
      if (signed.identity !== own)
        throw denied(
          `${caller.username} may only request its own identity ${own}, not ${signed.identity}`,
        );
      opts.log.info('issued certificate', { identity: own, caller: caller.username });
      return { certChain: signed.chain };
    };
    run().then(
      (res) => callback(null, res),
      (err: unknown) => {
        opts.log.warn('certificate request refused', {
          peer: call.getPeer(),
          caller: who,
          identity: call.request?.metadata?.[IMPERSONATED_IDENTITY],
          error: errorMessage(err),
        });
        callback(toGrpcError(err), null);
      },
    );
  };
}
