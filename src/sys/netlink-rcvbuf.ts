/**
 * Raising the receive buffer of another process's netlink sockets. `xtables-monitor --trace`
 * reads NFNLGRP_NFTRACE with the default buffer (net.core.rmem_default, ~208 KiB); one traced
 * request makes ~200 events in a node's namespace within milliseconds, and on a busy machine
 * the monitor is not scheduled soon enough: the kernel drops events (ENOBUFS) and the monitor
 * exits. `nft monitor` avoids this by forcing a 16 MiB buffer on its own socket; xtables-monitor
 * has no option for it, so we do the same to its socket from outside: pidfd_getfd(2) gives us a
 * descriptor of the same socket, and SO_RCVBUFFORCE (root) applies to the socket itself.
 */
import { readFileSync, readdirSync, readlinkSync } from 'node:fs';
import { AmbitError } from '../errors.js';
import { libc } from './libc.js';

const SYS_PIDFD_OPEN = 434;
const SYS_PIDFD_GETFD = 438;
const SOL_SOCKET = 1;
const SO_RCVBUFFORCE = 33;
const NETLINK_NETFILTER = 12;

/** Inodes of `pid`'s netlink sockets of `protocol`, from /proc/<pid>/net/netlink. */
function netlinkInodes(pid: number, protocol: number): Set<string> {
  const out = new Set<string>();
  const lines = readFileSync(`/proc/${pid}/net/netlink`, 'utf8').split('\n').slice(1);
  for (const l of lines) {
    // sk Eth Pid Groups Rmem Wmem Dump Locks Drops Inode
    const f = l.trim().split(/\s+/);
    if (f.length >= 10 && Number(f[1]) === protocol) out.add(f[9]!);
  }
  return out;
}

/** File descriptors of `pid` that are sockets with one of `inodes`. */
function socketFds(pid: number, inodes: Set<string>): number[] {
  const fds: number[] = [];
  for (const name of readdirSync(`/proc/${pid}/fd`)) {
    let target: string;
    try {
      target = readlinkSync(`/proc/${pid}/fd/${name}`);
    } catch {
      continue; // closed meanwhile
    }
    const ino = /^socket:\[(\d+)\]$/.exec(target)?.[1];
    if (ino && inodes.has(ino)) fds.push(Number(name));
  }
  return fds;
}

/**
 * Forces the receive buffer of every NETLINK_NETFILTER socket of `pid` to `bytes`; returns how
 * many sockets it changed. Throws SYS_NETLINK_RCVBUF naming the process when it cannot.
 */
export function raiseNetfilterRcvbuf(pid: number, bytes: number): number {
  const c = libc();
  const fail = (call: string): never => {
    const e = c.errno();
    throw new AmbitError(
      'SYS_NETLINK_RCVBUF',
      `cannot raise the netlink receive buffer of pid ${pid}: ${call}: ${c.strerror(e)} (errno ${e})`,
      { value: pid, hint: 'needs root and Linux ≥ 5.6 (pidfd_getfd)' },
    );
  };
  let fds: number[];
  try {
    fds = socketFds(pid, netlinkInodes(pid, NETLINK_NETFILTER));
  } catch (err) {
    throw new AmbitError('SYS_NETLINK_RCVBUF', `cannot read the sockets of pid ${pid}`, {
      value: pid,
      hint: 'the process may have exited',
      cause: err,
    });
  }
  if (fds.length === 0) return 0;
  const pidfd = Number(c.syscall3(SYS_PIDFD_OPEN, pid, 0, 0));
  if (pidfd < 0) fail('pidfd_open');
  const v = Buffer.alloc(4);
  v.writeInt32LE(bytes, 0);
  let changed = 0;
  try {
    for (const fd of fds) {
      const local = Number(c.syscall3(SYS_PIDFD_GETFD, pidfd, fd, 0));
      if (local < 0) fail(`pidfd_getfd(${fd})`);
      try {
        if ((c.setsockopt(local, SOL_SOCKET, SO_RCVBUFFORCE, v, 4) as number) < 0) {
          fail('setsockopt(SO_RCVBUFFORCE)');
        }
        changed++;
      } finally {
        c.close(local);
      }
    }
  } finally {
    c.close(pidfd);
  }
  return changed;
}
