/**
 * Sockets Node cannot make by itself:
 * - listeners with IP_TRANSPARENT, which TPROXY requires, so an accepted socket's
 *   `localAddress` is the connection's original destination;
 * - connections from a foreign source address (IP_TRANSPARENT + bind before connect), so an
 *   application sees its real client rather than the proxy;
 * - listeners opened inside another network namespace (setns on the calling thread).
 * Each socket is created through libc and handed to Node by file descriptor.
 */
import { closeSync, openSync } from 'node:fs';
import net from 'node:net';
import { netnsRefPath } from './exec.js';
import { AmbitError } from '../errors.js';
import { check, libc } from './libc.js';

const AF_INET = 2;
const SOCK_STREAM = 1;
const SOCK_NONBLOCK = 0o4000;
const SOCK_CLOEXEC = 0o2000000;
const SOL_SOCKET = 1;
const SO_REUSEADDR = 2;
const SOL_IP = 0;
const IP_FREEBIND = 15;
const IP_TRANSPARENT = 19;
const CLONE_NEWNET = 0x40000000;

function sockaddrIn(ip: string, port: number): Buffer {
  const parts = ip.split('.').map(Number);
  if (net.isIPv4(ip) === false || parts.length !== 4) {
    throw new AmbitError('SYS_BAD_ADDRESS', `not an IPv4 address: ${ip}`, { value: ip });
  }
  const b = Buffer.alloc(16);
  b.writeUInt16LE(AF_INET, 0);
  b.writeUInt16BE(port, 2);
  for (let i = 0; i < 4; i++) b[4 + i] = parts[i]!;
  return b;
}

function setInt(fd: number, level: number, name: number, value: number, what: string): void {
  const v = Buffer.alloc(4);
  v.writeInt32LE(value, 0);
  check(libc().setsockopt(fd, level, name, v, 4) as number, `setsockopt(${what})`, fd);
}

function newSocket(): number {
  return check(
    libc().socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0) as number,
    'socket',
    'AF_INET',
  );
}

export interface ListenOptions {
  host: string;
  port: number;
  /** Set IP_TRANSPARENT, required for a TPROXY target. */
  transparent?: boolean;
  /** Open the socket inside this named network namespace. */
  netns?: string;
  backlog?: number;
}

/**
 * Creates a bound, listening socket and returns its fd. Inside `netns` when given: the
 * namespace is entered on this thread only for the socket/bind/listen calls.
 */
export function listenFd(opts: ListenOptions): number {
  const make = (): number => {
    const c = libc();
    const fd = newSocket();
    try {
      setInt(fd, SOL_SOCKET, SO_REUSEADDR, 1, 'SO_REUSEADDR');
      if (opts.transparent) setInt(fd, SOL_IP, IP_TRANSPARENT, 1, 'IP_TRANSPARENT');
      const sa = sockaddrIn(opts.host, opts.port);
      check(
        c.bind(fd, sa, sa.length) as number,
        `bind(${opts.host}:${opts.port})`,
        `${opts.host}:${opts.port}`,
      );
      check(c.listen(fd, opts.backlog ?? 1024) as number, 'listen', `${opts.host}:${opts.port}`);
      return fd;
    } catch (err) {
      c.close(fd);
      throw err;
    }
  };
  return opts.netns ? withNetns(opts.netns, make) : make();
}

/** A net.Server listening per `opts`; resolves once Node has taken over the socket. */
export function listen(server: net.Server, opts: ListenOptions): Promise<net.Server> {
  const fd = listenFd(opts);
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen({ fd }, () => {
      server.off('error', reject);
      resolve(server);
    });
  });
}

/**
 * Connects to `host:port` from `srcIp` (any port), an address this namespace need not own:
 * IP_TRANSPARENT lets the bind succeed and the kernel send with that source; the return
 * path must deliver replies back here (the node and ztunnel rules do that).
 */
export function spoofedConnect(srcIp: string, host: string, port: number): net.Socket {
  const c = libc();
  const fd = newSocket();
  try {
    setInt(fd, SOL_IP, IP_TRANSPARENT, 1, 'IP_TRANSPARENT');
    setInt(fd, SOL_IP, IP_FREEBIND, 1, 'IP_FREEBIND');
    setInt(fd, SOL_SOCKET, SO_REUSEADDR, 1, 'SO_REUSEADDR');
    const sa = sockaddrIn(srcIp, 0);
    check(c.bind(fd, sa, sa.length) as number, `bind(${srcIp})`, srcIp);
  } catch (err) {
    c.close(fd);
    throw err;
  }
  const socket = new net.Socket({ fd, readable: true, writable: true });
  socket.connect(port, host);
  return socket;
}

/** Runs `fn` synchronously with this thread inside the network namespace (name or path). */
export function withNetns<T>(name: string, fn: () => T): T {
  const c = libc();
  let target: number;
  try {
    target = openSync(netnsRefPath(name), 'r');
  } catch (err) {
    throw new AmbitError('SYS_NO_NETNS', `no network namespace named ${name}`, {
      value: name,
      cause: err,
    });
  }
  const home = openSync('/proc/thread-self/ns/net', 'r');
  try {
    check(c.setns(target, CLONE_NEWNET) as number, `setns(${name})`, name);
    try {
      return fn();
    } finally {
      check(c.setns(home, CLONE_NEWNET) as number, 'setns(back)', name);
    }
  } finally {
    closeSync(target);
    closeSync(home);
  }
}

/**
 * Connects to `host:port` from inside the named network namespace (the socket is created
 * there, then used from this one): the kubelet's port-forward reaches a pod's loopback this way.
 */
export function connectInNetns(netns: string, host: string, port: number): net.Socket {
  const fd = withNetns(netns, newSocket);
  const socket = new net.Socket({ fd, readable: true, writable: true });
  socket.connect(port, host);
  return socket;
}
