/**
 * Kubernetes `Status` errors. Every failed request answers with one, so kubectl and client
 * libraries print the reason and the offending field the way they do against a real cluster.
 */
import { AmbitError, type CodeOf } from '../../errors.js';
import type { Kind } from './catalog.js';

export interface Cause {
  field: string;
  message: string;
  reason: string;
}

export interface StatusDetails {
  name?: string;
  group?: string;
  kind?: string;
  causes?: Cause[];
}

/** Kubernetes' Status reasons this API server answers with, and the code of each. */
const REASON_CODES = {
  AlreadyExists: 'APISERVER_ALREADY_EXISTS',
  BadRequest: 'APISERVER_BAD_REQUEST',
  Conflict: 'APISERVER_CONFLICT',
  Expired: 'APISERVER_EXPIRED',
  Forbidden: 'APISERVER_FORBIDDEN',
  InternalError: 'APISERVER_INTERNAL_ERROR',
  Invalid: 'APISERVER_INVALID',
  MethodNotAllowed: 'APISERVER_METHOD_NOT_ALLOWED',
  NotFound: 'APISERVER_NOT_FOUND',
  RequestEntityTooLarge: 'APISERVER_REQUEST_ENTITY_TOO_LARGE',
  ServiceUnavailable: 'APISERVER_SERVICE_UNAVAILABLE',
  Unauthorized: 'APISERVER_UNAUTHORIZED',
  UnsupportedMediaType: 'APISERVER_UNSUPPORTED_MEDIA_TYPE',
} as const satisfies Record<string, CodeOf<'APISERVER'>>;

export type StatusReason = keyof typeof REASON_CODES;

export class ApiError extends AmbitError {
  constructor(
    readonly httpCode: number,
    readonly reason: StatusReason,
    message: string,
    readonly details?: StatusDetails,
  ) {
    super(REASON_CODES[reason], message, { value: details?.name });
  }

  toStatus(): Record<string, unknown> {
    return {
      kind: 'Status',
      apiVersion: 'v1',
      metadata: {},
      status: 'Failure',
      message: this.message,
      reason: this.reason,
      ...(this.details ? { details: this.details } : {}),
      code: this.httpCode,
    };
  }
}

/** `pods "x"` or `gateways.gateway.networking.k8s.io "x"`: the resource as Kubernetes names it. */
function qualified(k: Kind): string {
  return k.group ? `${k.plural}.${k.group}` : k.plural;
}

function details(k: Kind, name: string): StatusDetails {
  return { name, group: k.group || undefined, kind: k.plural };
}

export function notFound(k: Kind, name: string): ApiError {
  return new ApiError(404, 'NotFound', `${qualified(k)} "${name}" not found`, details(k, name));
}

export function alreadyExists(k: Kind, name: string): ApiError {
  return new ApiError(
    409,
    'AlreadyExists',
    `${qualified(k)} "${name}" already exists`,
    details(k, name),
  );
}

export function conflict(k: Kind, name: string): ApiError {
  return new ApiError(
    409,
    'Conflict',
    `Operation cannot be fulfilled on ${qualified(k)} "${name}": the object has been modified; please apply your changes to the latest version and try again`,
    details(k, name),
  );
}

/** 422 with one cause per bad field, message `Kind "name" is invalid: field: message, ...`. */
export function invalid(k: Kind, name: string, causes: Cause[]): ApiError {
  // As apimachinery's NewInvalid: `Kind.group "name" is invalid: cause` or `…: [c1, c2]`.
  const list = causes.map((c) => `${c.field}: ${c.message}`).join(', ');
  const what = k.group ? `${k.kind}.${k.group}` : k.kind;
  return new ApiError(
    422,
    'Invalid',
    `${what} "${name}" is invalid: ${causes.length > 1 ? `[${list}]` : list}`,
    {
      name,
      group: k.group || undefined,
      kind: k.kind,
      causes,
    },
  );
}

export function badRequest(message: string): ApiError {
  return new ApiError(400, 'BadRequest', message);
}

export function gone(message: string): ApiError {
  return new ApiError(410, 'Expired', message);
}

export function methodNotAllowed(message: string): ApiError {
  return new ApiError(405, 'MethodNotAllowed', message);
}

export function pathNotFound(path: string): ApiError {
  return new ApiError(404, 'NotFound', `the server could not find the requested resource`, {
    name: path,
  });
}

export function namespaceNotFound(ns: string): ApiError {
  return new ApiError(404, 'NotFound', `namespaces "${ns}" not found`, {
    name: ns,
    kind: 'namespaces',
  });
}

export function unsupportedMediaType(type: string): ApiError {
  return new ApiError(
    415,
    'UnsupportedMediaType',
    `the body of the request was in an unknown format - accepted media types include: application/json, application/yaml, application/json-patch+json, application/merge-patch+json, application/strategic-merge-patch+json, application/apply-patch+yaml (got ${type})`,
  );
}

/** Field error helpers with Kubernetes' reason codes. */
export const cause = {
  required: (field: string, detail = ''): Cause => ({
    field,
    reason: 'FieldValueRequired',
    message: `Required value${detail ? `: ${detail}` : ''}`,
  }),
  invalid: (field: string, value: unknown, detail: string): Cause => ({
    field,
    reason: 'FieldValueInvalid',
    message: `Invalid value: ${JSON.stringify(value)}: ${detail}`,
  }),
  duplicate: (field: string, value: unknown): Cause => ({
    field,
    reason: 'FieldValueDuplicate',
    message: `Duplicate value: ${JSON.stringify(value)}`,
  }),
  notSupported: (field: string, value: unknown, allowed: string[]): Cause => ({
    field,
    reason: 'FieldValueNotSupported',
    message: `Unsupported value: ${JSON.stringify(value)}: supported values: ${allowed.map((a) => `"${a}"`).join(', ')}`,
  }),
};
