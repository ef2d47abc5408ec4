// A tiny certificate authority for the test control plane, built on the openssl CLI
// (Node.js can generate keys but not sign X.509 certificates). ECDSA P-256 keeps it fast.
import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { readFile, writeFile, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { promisify } from 'node:util';

const run = promisify(execFile);

export interface KeyPair {
  certFile: string;
  keyFile: string;
}

export interface CertRequest {
  commonName: string;
  organizations?: string[];
  usage: 'server' | 'client';
  /** Subject alternative names, e.g. `IP:127.0.0.1`, `DNS:localhost`. */
  altNames?: string[];
}

async function openssl(args: string[]): Promise<void> {
  try {
    await run('openssl', args);
  } catch (err) {
    const e = err as NodeJS.ErrnoException & { stderr?: string };
    if (e.code === 'ENOENT') {
      throw new Error('the openssl command is required to make the test control plane certificates');
    }
    throw new Error(`openssl ${args[0]} failed: ${e.stderr ?? e.message}`);
  }
}

function subjectPart(value: string): string {
  // openssl's -subj syntax: '/' and ',' and '+' separate fields and must be escaped.
  return value.replace(/([/,+\\=])/g, '\\$1');
}

export class CertificateAuthority {
  readonly certFile: string;
  readonly keyFile: string;

  private constructor(readonly dir: string) {
    this.certFile = join(dir, 'ca.crt');
    this.keyFile = join(dir, 'ca.key');
  }

  /** Loads the CA in `dir`, or creates it when absent (a sandbox reuses its CA across runs). */
  static async open(dir: string): Promise<CertificateAuthority> {
    const ca = new CertificateAuthority(dir);
    if (existsSync(ca.certFile) && existsSync(ca.keyFile)) return ca;
    await openssl([
      'req', '-x509', '-new', '-nodes',
      '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1',
      '-keyout', ca.keyFile, '-out', ca.certFile, '-days', '3650',
      '-subj', '/CN=ovim-operator-test-ca',
      '-addext', 'basicConstraints=critical,CA:TRUE',
      '-addext', 'keyUsage=critical,keyCertSign,cRLSign,digitalSignature',
    ]);
    return ca;
  }

  async caPem(): Promise<string> {
    return readFile(this.certFile, 'utf8');
  }

  /** Issues a certificate signed by this CA into `<dir>/<fileName>.crt|.key`. */
  async issue(fileName: string, req: CertRequest): Promise<KeyPair> {
    const certFile = join(this.dir, `${fileName}.crt`);
    const keyFile = join(this.dir, `${fileName}.key`);
    const csrFile = join(this.dir, `${fileName}.csr`);
    const extFile = join(this.dir, `${fileName}.ext`);
    const subject =
      (req.organizations ?? []).map((o) => `/O=${subjectPart(o)}`).join('') + `/CN=${subjectPart(req.commonName)}`;
    const ext = [
      'basicConstraints=critical,CA:FALSE',
      'keyUsage=critical,digitalSignature,keyEncipherment',
      `extendedKeyUsage=${req.usage === 'server' ? 'serverAuth' : 'clientAuth'}`,
    ];
    if (req.altNames?.length) ext.push(`subjectAltName=${req.altNames.join(',')}`);
    await writeFile(extFile, ext.join('\n') + '\n');
    await openssl([
      'req', '-new', '-nodes', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1',
      '-keyout', keyFile, '-out', csrFile, '-subj', subject,
    ]);
    await openssl([
      'x509', '-req', '-in', csrFile, '-CA', this.certFile, '-CAkey', this.keyFile,
      '-set_serial', `0x${randomBytes(12).toString('hex')}`, '-days', '825',
      '-extfile', extFile, '-out', certFile,
    ]);
    await Promise.all([rm(csrFile, { force: true }), rm(extFile, { force: true })]);
    return { certFile, keyFile };
  }

  /** An EC key pair for signing service-account tokens. */
  async serviceAccountKey(): Promise<{ privateKeyFile: string; publicKeyFile: string }> {
    const privateKeyFile = join(this.dir, 'sa.key');
    const publicKeyFile = join(this.dir, 'sa.pub');
    if (!existsSync(privateKeyFile) || !existsSync(publicKeyFile)) {
      await openssl(['ecparam', '-name', 'prime256v1', '-genkey', '-noout', '-out', privateKeyFile]);
      await openssl(['ec', '-in', privateKeyFile, '-pubout', '-out', publicKeyFile]);
    }
    return { privateKeyFile, publicKeyFile };
  }
}
