/**
 * A minimal OpenAPI v3 description, enough for kubectl: every kind's PATCH operation, tagged with
 * its group/version/kind and the `fieldValidation` parameter, tells kubectl that this server
 * handles validation itself (so plain `kubectl apply -f` needs no client-side schema). The
 * operations deliberately do not list strategic-merge-patch, so kubectl computes strategic patches
 * for built-in kinds from its compiled-in types and JSON merge patches for the others, exactly as
 * it does when a cluster's schema lacks patch metadata. Schemas are open objects; there is no
 * OpenAPI v2 document (kubectl copes with its absence).
 */
import { createHash } from 'node:crypto';
import { apiVersionOf, catalogGeneration, kinds, type Kind } from './catalog.js';

function gvPath(k: Kind): string {
  return k.group ? `apis/${k.group}/${k.version}` : `api/${k.version}`;
}

function schemaName(k: Kind): string {
  const g = k.group === '' ? 'core' : k.group === 'apps' ? 'apps' : k.group;
  return k.group === '' || k.group === 'apps'
    ? `io.k8s.api.${g}.${k.version}.${k.kind}`
    : `${k.group.split('.').reverse().join('.')}.${k.version}.${k.kind}`;
}

const gvk = (k: Kind): Record<string, string> => ({
  group: k.group,
  version: k.version,
  kind: k.kind,
});

function docFor(path: string): Record<string, unknown> | undefined {
  const ks = kinds.filter((k) => gvPath(k) === path);
  if (ks.length === 0) return undefined;
  const paths: Record<string, unknown> = {};
  const schemas: Record<string, unknown> = {};
  for (const k of ks) {
    const ref = { $ref: `#/components/schemas/${schemaName(k)}` };
    const obj = `/${path}${k.namespaced ? '/namespaces/{namespace}' : ''}/${k.plural}`;
    const params = [
      { name: 'fieldValidation', in: 'query', schema: { type: 'string', uniqueItems: true } },
      { name: 'fieldManager', in: 'query', schema: { type: 'string', uniqueItems: true } },
      { name: 'dryRun', in: 'query', schema: { type: 'string', uniqueItems: true } },
    ];
    const ext = { 'x-kubernetes-group-version-kind': gvk(k) };
    const ok = { '200': { description: 'OK', content: { 'application/json': { schema: ref } } } };
    const body = (types: string[]) => ({
      content: Object.fromEntries(types.map((t) => [t, { schema: ref }])),
      required: true,
    });
    paths[obj] = {
      post: {
        ...ext,
        'x-kubernetes-action': 'post',
        parameters: params,
        requestBody: body(['*/*']),
        responses: ok,
      },
    };
    if (!k.virtual) {
      paths[`${obj}/{name}`] = {
        get: { ...ext, 'x-kubernetes-action': 'get', responses: ok },
        put: {
          ...ext,
          'x-kubernetes-action': 'put',
          parameters: params,
          requestBody: body(['*/*']),
          responses: ok,
        },
        patch: {
          ...ext,
          'x-kubernetes-action': 'patch',
          parameters: params,
          requestBody: body(['application/json-patch+json', 'application/merge-patch+json']),
          responses: ok,
        },
        delete: { ...ext, 'x-kubernetes-action': 'delete', responses: ok },
      };
    }
    // A custom resource's own schema (what `kubectl explain` walks), else an open object.
    schemas[schemaName(k)] = k.schema
      ? {
          ...k.schema,
          properties: {
            apiVersion: { type: 'string', description: 'APIVersion of this representation.' },
            kind: { type: 'string', description: 'Kind is the REST resource this object is.' },
            metadata: { type: 'object', description: 'Standard object metadata.' },
            ...((k.schema.properties as Record<string, unknown> | undefined) ?? {}),
          },
          'x-kubernetes-group-version-kind': [gvk(k)],
        }
      : {
          type: 'object',
          description: `${k.kind} (${apiVersionOf(k)}), served by the ambit lab API server`,
          properties: {
            apiVersion: { type: 'string' },
            kind: { type: 'string' },
            metadata: { type: 'object', 'x-kubernetes-preserve-unknown-fields': true },
          },
          'x-kubernetes-preserve-unknown-fields': true,
          'x-kubernetes-group-version-kind': [gvk(k)],
        };
  }
  return {
    openapi: '3.0.0',
    info: { title: 'Kubernetes (ambit lab)', version: 'v1.32.0' },
    paths,
    components: { schemas },
  };
}

const cache = new Map<string, { doc: Record<string, unknown>; hash: string }>();

let cacheGeneration = -1;

function cached(path: string): { doc: Record<string, unknown>; hash: string } | undefined {
  // CRDs come and go: documents are rebuilt after any change of the catalog.
  if (cacheGeneration !== catalogGeneration) {
    cache.clear();
    cacheGeneration = catalogGeneration;
  }
  let c = cache.get(path);
  if (!c) {
    const doc = docFor(path);
    if (!doc) return undefined;
    const hash = createHash('sha512')
      .update(JSON.stringify(doc))
      .digest('hex')
      .slice(0, 64)
      .toUpperCase();
    cache.set(path, (c = { doc, hash }));
  }
  return c;
}

export function openapiV3Root(): Record<string, unknown> {
  const paths: Record<string, unknown> = {};
  for (const p of new Set(kinds.map(gvPath))) {
    const c = cached(p)!;
    paths[p] = { serverRelativeURL: `/openapi/v3/${p}?hash=${c.hash}` };
  }
  return { paths };
}

export function openapiV3Group(path: string): Record<string, unknown> | undefined {
  return cached(path)?.doc;
}

/** Protobuf field header + length-delimited payload. */
function pbField(field: number, payload: Buffer): Buffer {
  const len: number[] = [];
  let n = payload.length;
  do {
    len.push((n & 0x7f) | (n > 0x7f ? 0x80 : 0));
    n >>>= 7;
  } while (n > 0);
  return Buffer.concat([Buffer.from([(field << 3) | 2, ...len]), payload]);
}

/**
 * An OpenAPI v2 document without definitions, in the protobuf encoding kubectl asks for
 * (gnostic `openapi_v2.Document`: swagger = 1, info = 2 {title = 1, version = 2}). It tells
 * kubectl there is no client-side schema for any kind: unknown kinds then fail with kubectl's
 * usual "no matches for kind" instead of a validation download error.
 */
export function openapiV2Protobuf(): Buffer {
  const info = Buffer.concat([
    pbField(1, Buffer.from('Kubernetes (ambit lab)')),
    pbField(2, Buffer.from('v1.32.0')),
  ]);
  return Buffer.concat([pbField(1, Buffer.from('2.0')), pbField(2, info)]);
}
