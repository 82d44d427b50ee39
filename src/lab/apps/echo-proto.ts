/**
 * Istio echo's protobuf messages, encoded by hand (EchoRequest/EchoResponse are both
 * `{ string message = 1; }`), and the service definition for grpc-js clients.
 */
import type * as grpc from '@grpc/grpc-js';

export function encodeMessage(s: string): Buffer {
  const b = Buffer.from(s);
  const len: number[] = [];
  let n = b.length;
  do {
    len.push((n & 0x7f) | (n > 0x7f ? 0x80 : 0));
    n >>>= 7;
  } while (n > 0);
  return Buffer.concat([Buffer.from([0x0a, ...len]), b]);
}

export function decodeMessage(buf: Buffer): string {
  let i = 0;
  while (i < buf.length) {
    const tag = buf[i++]!;
    let len = 0;
    let shift = 0;
    for (;;) {
      const c = buf[i++] ?? 0;
      len |= (c & 0x7f) << shift;
      shift += 7;
      if (!(c & 0x80)) break;
    }
    if (tag === 0x0a) return buf.subarray(i, i + len).toString();
    i += len;
  }
  return '';
}

const id = (b: Buffer) => b;
export const ECHO_SERVICE: grpc.ServiceDefinition = {
  Echo: {
    path: '/proto.EchoTestService/Echo',
    requestStream: false,
    responseStream: false,
    requestSerialize: id,
    requestDeserialize: id,
    responseSerialize: id,
    responseDeserialize: id,
  },
  EchoStream: {
    path: '/proto.EchoTestService/EchoStream',
    requestStream: true,
    responseStream: true,
    requestSerialize: id,
    requestDeserialize: id,
    responseSerialize: id,
    responseDeserialize: id,
  },
};
