import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { constants, createDeflate, inflateSync } from 'node:zlib';
import { tailOffset } from '../../src/lab/kubelet/logs.js';
import { SPDY3_DICTIONARY } from '../../src/lab/kubelet/spdy-dictionary.js';
import {
  SpdySession,
  decodeHeaderBlock,
  encodeHeaderBlock,
  type SpdyStream,
} from '../../src/lab/kubelet/spdy.js';

function control(type: number, flags: number, body: Buffer): Buffer {
  const h = Buffer.alloc(8);
  h.writeUInt16BE(0x8003, 0);
  h.writeUInt16BE(type, 2);
  h[4] = flags;
  h.writeUIntBE(body.length, 5, 3);
  return Buffer.concat([h, body]);
}

function data(id: number, flags: number, payload: Buffer): Buffer {
  const h = Buffer.alloc(8);
  h.writeUInt32BE(id, 0);
  h[4] = flags;
  h.writeUIntBE(payload.length, 5, 3);
  return Buffer.concat([h, payload]);
}

/** A client-side header compressor as zlib does it: one stream, sync-flushed per block. */
function compressor(): (b: Buffer) => Promise<Buffer> {
  const z = createDeflate({ dictionary: SPDY3_DICTIONARY });
  const out: Buffer[] = [];
  z.on('data', (b: Buffer) => out.push(b));
  return (b) =>
    new Promise((resolve) => {
      z.write(b);
      z.flush(constants.Z_SYNC_FLUSH, () => resolve(Buffer.concat(out.splice(0))));
    });
}

function synStream(id: number, block: Buffer, flags = 0): Buffer {
  const b = Buffer.alloc(10);
  b.writeUInt32BE(id, 0);
  return control(1, flags, Buffer.concat([b, block]));
}

test('the SPDY/3 dictionary has the spec size (1423 bytes)', () => {
  assert.equal(SPDY3_DICTIONARY.length, 1423);
  assert.equal(SPDY3_DICTIONARY.subarray(0, 11).toString('latin1'), '\0\0\0\x07options');
  assert.match(SPDY3_DICTIONARY.subarray(-12).toString('latin1'), /enq=0\.$/);
});

test('header blocks round-trip', () => {
  const h = { streamtype: 'data', port: '8080', requestid: '7' };
  assert.deepEqual(decodeHeaderBlock(encodeHeaderBlock(h)), h);
  assert.throws(() => decodeHeaderBlock(Buffer.from([0, 0, 0, 1, 0, 0, 0, 9])), /truncated/);
});

test('a session opens streams from compressed SYN_STREAMs, replies in a readable zlib stream', async () => {
  const sent: Buffer[] = [];
  const s = new SpdySession((b) => sent.push(b));
  const streams: SpdyStream[] = [];
  s.on('stream', (st: SpdyStream) => {
    streams.push(st);
    st.reply();
  });
  const z = compressor();
  const b1 = await z(encodeHeaderBlock({ streamtype: 'error', port: '80', requestid: '0' }));
  const b2 = await z(encodeHeaderBlock({ streamtype: 'data', port: '80', requestid: '0' }));
  // Split across feeds to exercise reassembly.
  const wire = Buffer.concat([synStream(1, b1, 1), synStream(3, b2)]);
  s.feed(wire.subarray(0, 5));
  s.feed(wire.subarray(5));
  assert.deepEqual(
    streams.map((x) => [x.id, x.headers.streamtype, x.headers.port, x.remoteClosed]),
    [
      [1, 'error', '80', true],
      [3, 'data', '80', false],
    ],
  );
  // Both SYN_REPLYs' header blocks continue one zlib stream an inflater reads.
  const replies = sent.filter((b) => b.readUInt16BE(2) === 2).map((b) => b.subarray(12));
  assert.equal(replies.length, 2);
  const inflated = inflateSync(Buffer.concat(replies), {
    dictionary: SPDY3_DICTIONARY,
    finishFlush: constants.Z_SYNC_FLUSH,
  });
  assert.deepEqual(inflated, Buffer.alloc(8)); // two empty header blocks (count 0)

  const got: Buffer[] = [];
  let ended = false;
  streams[1]!.on('data', (b: Buffer) => got.push(b));
  streams[1]!.on('end', () => (ended = true));
  s.feed(data(3, 0, Buffer.from('hello ')));
  s.feed(data(3, 1, Buffer.from('world')));
  assert.equal(Buffer.concat(got).toString(), 'hello world');
  assert.equal(ended, true);

  sent.length = 0;
  streams[1]!.write(Buffer.alloc(70_000, 1));
  streams[1]!.end();
  const frames = sent.map((b) => ({ id: b.readUInt32BE(0), flags: b[4], len: b.readUIntBE(5, 3) }));
  assert.deepEqual(
    frames.map((f) => f.len),
    [32768, 32768, 4464, 0],
  );
  assert.equal(frames.at(-1)!.flags, 1);

  sent.length = 0;
  const ping = control(6, 0, Buffer.from([0, 0, 0, 9]));
  s.feed(ping);
  assert.deepEqual(sent, [ping]);
});

test('a bad frame version closes the session with a reason', () => {
  const s = new SpdySession(() => undefined);
  let reason = '';
  s.on('close', (err?: Error) => (reason = err?.message ?? ''));
  const f = control(6, 0, Buffer.alloc(4));
  f.writeUInt16BE(0x8002, 0);
  s.feed(f);
  assert.match(reason, /unsupported SPDY version 2/);
});

test('tailOffset finds where the last N lines begin', () => {
  const dir = mkdtempSync(join(tmpdir(), 'ambit-logs-'));
  try {
    const f = join(dir, 'c.log');
    writeFileSync(f, 'a\nb\nc\n');
    assert.equal(tailOffset(f, 6, 1), 4);
    assert.equal(tailOffset(f, 6, 2), 2);
    assert.equal(tailOffset(f, 6, 5), 0);
    assert.equal(tailOffset(f, 6, 0), 6);
    writeFileSync(f, 'a\nb\npartial');
    assert.equal(tailOffset(f, 11, 1), 4);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
