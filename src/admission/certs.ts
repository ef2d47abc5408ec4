// Self-signed certificates for the webhook: a CA and a serving certificate signed by it
// (ECDSA P-256, WebCrypto through @peculiar/x509; Node.js cannot sign X.509 by itself).
import 'reflect-metadata'; // @peculiar/x509 resolves its services through tsyringe, which needs it
import { randomBytes, webcrypto, X509Certificate } from 'node:crypto';
import * as x509 from '@peculiar/x509';

// The library's types name the DOM's Crypto, which this Node-only project does not load.
type LibCrypto = Parameters<typeof x509.cryptoProvider.set>[0];
type KeyPair = webcrypto.CryptoKeyPair;
type Key = webcrypto.CryptoKey;
x509.cryptoProvider.set(webcrypto as unknown as LibCrypto);

const ALGORITHM = { name: 'ECDSA', namedCurve: 'P-256', hash: 'SHA-256' } as const;

export interface PemPair {
  certPem: string;
  keyPem: string;
}

/** Certificates start this much in the past, for clocks behind ours. */
export const BACKDATE_MS = 30_000;

function serial(): string {
  const bytes = randomBytes(12);
  bytes[0] = (bytes[0] ?? 0) & 0x7f; // a positive serial number
  return bytes.toString('hex');
}

async function keyPem(key: Key): Promise<string> {
  const der = Buffer.from(await webcrypto.subtle.exportKey('pkcs8', key));
  return `-----BEGIN PRIVATE KEY-----\n${der.toString('base64').replace(/(.{64})/g, '$1\n').replace(/\n?$/, '\n')}-----END PRIVATE KEY-----\n`;
}

async function generateKeys(): Promise<KeyPair> {
  return webcrypto.subtle.generateKey(ALGORITHM, true, ['sign', 'verify']);
}

async function importKey(pem: string): Promise<Key> {
  const der = Buffer.from(pem.replace(/-----[^-]+-----/g, '').replace(/\s+/g, ''), 'base64');
  return webcrypto.subtle.importKey('pkcs8', der, ALGORITHM, false, ['sign']);
}

/** A new CA valid for `validityMs` from `now`. */
export async function createCa(now: Date, validityMs: number, commonName = 'ovim-operator-webhook-ca'): Promise<PemPair> {
  const keys = await generateKeys();
  const cert = await x509.X509CertificateGenerator.createSelfSigned({
    serialNumber: serial(),
    name: `CN=${commonName}`,
    notBefore: new Date(now.getTime() - BACKDATE_MS),
    notAfter: new Date(now.getTime() + validityMs),
    keys: keys as never, // WebCrypto's types under the DOM's names (see LibCrypto)
    signingAlgorithm: ALGORITHM,
    extensions: [
      new x509.BasicConstraintsExtension(true, 0, true),
      new x509.KeyUsagesExtension(x509.KeyUsageFlags.keyCertSign | x509.KeyUsageFlags.cRLSign | x509.KeyUsageFlags.digitalSignature, true),
      await x509.SubjectKeyIdentifierExtension.create(keys.publicKey as never),
    ],
  });
  return { certPem: cert.toString('pem') + '\n', keyPem: await keyPem(keys.privateKey) };
}

/** A serving certificate for `dnsNames` and `ips`, signed by `ca`. */
export async function issueServing(
  ca: PemPair,
  names: { dnsNames: readonly string[]; ips: readonly string[] },
  now: Date,
  validityMs: number,
): Promise<PemPair> {
  const caCert = new x509.X509Certificate(firstPem(ca.certPem));
  const caKey = await importKey(ca.keyPem);
  const keys = await generateKeys();
  const cert = await x509.X509CertificateGenerator.create({
    serialNumber: serial(),
    subject: `CN=${names.dnsNames[0] ?? names.ips[0] ?? 'ovim-operator-webhook'}`,
    issuer: caCert.subject,
    notBefore: new Date(now.getTime() - BACKDATE_MS),
    notAfter: new Date(now.getTime() + validityMs),
    signingKey: caKey as never,
    publicKey: keys.publicKey as never,
    signingAlgorithm: ALGORITHM,
    extensions: [
      new x509.BasicConstraintsExtension(false, undefined, true),
      new x509.KeyUsagesExtension(x509.KeyUsageFlags.digitalSignature | x509.KeyUsageFlags.keyEncipherment, true),
      new x509.ExtendedKeyUsageExtension([x509.ExtendedKeyUsage.serverAuth]),
      new x509.SubjectAlternativeNameExtension([
        ...names.dnsNames.map((value) => ({ type: 'dns' as const, value })),
        ...names.ips.map((value) => ({ type: 'ip' as const, value })),
      ]),
      await x509.AuthorityKeyIdentifierExtension.create(caCert),
    ],
  });
  return { certPem: cert.toString('pem') + '\n', keyPem: await keyPem(keys.privateKey) };
}

/** Every certificate of a PEM bundle. */
export function pemBlocks(pem: string): string[] {
  return pem.match(/-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/g) ?? [];
}

function firstPem(pem: string): string {
  const first = pemBlocks(pem)[0];
  if (!first) throw new Error('no certificate in the PEM text');
  return first;
}

export interface CertificateInfo {
  notBefore: Date;
  notAfter: Date;
  serial: string;
  fingerprint: string;
}

/** Validity and serial of the first certificate of `pem`. */
export function certificateInfo(pem: string): CertificateInfo {
  const cert = new X509Certificate(firstPem(pem));
  return {
    notBefore: new Date(cert.validFrom),
    notAfter: new Date(cert.validTo),
    serial: cert.serialNumber,
    fingerprint: cert.fingerprint256,
  };
}

/** Whether `leafPem` was signed by one of the CAs of `bundlePem` and covers the names. */
export function servesFor(leafPem: string, bundlePem: string, names: { dnsNames: readonly string[]; ips: readonly string[] }): boolean {
  try {
    const leaf = new X509Certificate(firstPem(leafPem));
    const signed = pemBlocks(bundlePem).some((ca) => leaf.verify(new X509Certificate(ca).publicKey));
    return signed && names.dnsNames.every((n) => leaf.checkHost(n) !== undefined) && names.ips.every((ip) => leaf.checkIP(ip) !== undefined);
  } catch {
    return false;
  }
}
