/**
 * The L7 bench's HAProxy side (bench/l7-setup.ts), without a lab: the certificate signed by a
 * mesh-CA-shaped root (P-256, as the control plane's) carries the SPIFFE URI SAN, both roots end
 * up in the CA file, and Debian's HAProxy accepts the generated configuration (`haproxy -c`).
 */
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { haproxyCerts, haproxyConf, HAPROXY_PORTS, TUNNEL_L7 } from '../../bench/l7-setup.js';
import { out, run } from '../../src/sys/exec.js';

const HAPROXY = '/usr/sbin/haproxy';
const dir = mkdtempSync(join(tmpdir(), 'bench-l7-'));
after(() => rmSync(dir, { recursive: true, force: true }));

const noTools = !existsSync(HAPROXY) ? 'needs Debian haproxy (scripts/install.sh)' : false;

test(
  'HAProxy certificate from the mesh root, both roots trusted, config accepted by haproxy -c',
  { skip: noTools },
  async () => {
    const cp = join(dir, 'lab', 'controlplane');
    const certs = join(dir, 'certs');
    mkdirSync(cp, { recursive: true });
    mkdirSync(certs, { recursive: true });
    // A root like the control plane's (root-cert.pem + ca-key.pem), and the bench's own CA file.
    await out('sh', [
      '-c',
      `set -e; cd ${cp}
openssl ecparam -name prime256v1 -genkey -noout -out ca-key.pem
openssl req -x509 -new -key ca-key.pem -subj "/O=cluster.local/CN=mesh root" -days 1 -out root-cert.pem
cd ${certs}
openssl ecparam -name prime256v1 -genkey -noout -out ca.key
openssl req -x509 -new -key ca.key -subj /CN=bench-ca -days 1 -out ca.pem`,
    ]);
    await haproxyCerts(certs, join(dir, 'lab'));

    const text = await out('openssl', [
      'x509',
      '-in',
      join(certs, 'haproxy.crt'),
      '-noout',
      '-text',
    ]);
    assert.match(text, /URI:spiffe:\/\/cluster\.local\/ns\/bench-direct\/sa\/haproxy/);
    assert.match(text, /TLS Web Server Authentication, TLS Web Client Authentication/);
    const verify = await run(
      'openssl',
      ['verify', '-CAfile', join(cp, 'root-cert.pem'), join(certs, 'haproxy.crt')],
      {
        allowFail: true,
      },
    );
    assert.equal(verify.code, 0, verify.stderr);
    const ca = readFileSync(join(certs, 'ca.pem'), 'utf8');
    assert.equal(ca.match(/BEGIN CERTIFICATE/g)?.length, 2, 'the bench CA and the mesh root');

    const conf = haproxyConf(certs, '10.244.1.9');
    const cfg = readFileSync(conf, 'utf8');
    assert.match(cfg, /ssl-default-bind-options ssl-min-ver TLSv1\.3/);
    assert.match(cfg, /ssl-default-server-options ssl-min-ver TLSv1\.3/);
    assert.match(
      cfg,
      new RegExp(`bind 0\\.0\\.0\\.0:${HAPROXY_PORTS.h2} ssl .* verify required proto h2`),
    );
    assert.match(
      cfg,
      new RegExp(`server s1 10\\.244\\.1\\.9:${TUNNEL_L7.h1} ssl crt .* verify required\\n`),
    );
    assert.match(cfg, /nbthread 1/);
    const check = await run(HAPROXY, ['-c', '-f', conf], { allowFail: true });
    assert.equal(check.code, 0, `${check.stdout}\n${check.stderr}`);
  },
);
