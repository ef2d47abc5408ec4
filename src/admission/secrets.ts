// The webhook's shared material, kept in Secrets of the operator's namespace so that every
// replica serves the same certificate and signs the same proofs: the first replica creates
// each Secret; a replica that loses the race (409) reads the winner's. The serving Secret has
// cert-manager's layout (tls.crt, tls.key, ca.crt) plus ca.key when the operator made it; without
// ca.key it is managed elsewhere (cert-manager) and only read. Rotation: see SharedCertificate.
import { randomBytes } from 'node:crypto';
import { isConflict, isNotFound } from '../kube/errors.js';
import type { KubeClient } from '../kube/rest.js';
import { certificateInfo, createCa, issueServing, pemBlocks, servesFor, type PemPair } from './certs.js';

interface SecretObject {
  metadata?: { name?: string; namespace?: string; resourceVersion?: string };
  type?: string;
  data?: Record<string, string>;
}

const secretsPath = (ns: string) => `/api/v1/namespaces/${encodeURIComponent(ns)}/secrets`;
const secretPath = (ns: string, name: string) => `${secretsPath(ns)}/${encodeURIComponent(name)}`;
const b64 = (text: string | Buffer) => Buffer.from(text).toString('base64');
const unb64 = (text: string | undefined) => (text ? Buffer.from(text, 'base64') : undefined);

async function readSecret(client: KubeClient, ns: string, name: string): Promise<SecretObject | undefined> {
  try {
    return await client.get<SecretObject>(secretPath(ns, name));
  } catch (err) {
    if (isNotFound(err)) return undefined;
    throw err;
  }
}

/** Reads the Secret, or creates it from `make()`; on a lost race, reads the winner's. */
async function createOrRead(
  client: KubeClient,
  ns: string,
  name: string,
  make: () => Promise<Pick<SecretObject, 'type' | 'data'>>,
): Promise<SecretObject> {
  const existing = await readSecret(client, ns, name);
  if (existing) return existing;
  const body = { apiVersion: 'v1', kind: 'Secret', metadata: { name, namespace: ns, labels: { 'app.kubernetes.io/managed-by': 'ovim-operator' } }, ...(await make()) };
  try {
    return await client.create<SecretObject>(secretsPath(ns), body);
  } catch (err) {
    if (!isConflict(err)) throw err;
    const winner = await readSecret(client, ns, name);
    if (!winner) throw new Error(`secret ${ns}/${name} was created by another replica and then vanished`);
    return winner;
  }
}

/** The HMAC key of the actor proofs (32 random bytes in `<name>`, key `key`). */
export async function sharedActorKey(client: KubeClient, ns: string, name: string): Promise<Buffer> {
  const secret = await createOrRead(client, ns, name, async () => ({ type: 'Opaque', data: { key: b64(randomBytes(32)) } }));
  const key = unb64(secret.data?.key);
  if (!key || key.length < 16) throw new Error(`secret ${ns}/${name} has no usable key (data.key, at least 16 bytes)`);
  return key;
}

export interface ServingNames {
  dnsNames: readonly string[];
  ips: readonly string[];
}

export interface CertificateOptions {
  namespace: string;
  secretName: string;
  names: ServingNames;
  /** Default 10 years. */
  caValidityMs?: number;
  /** Default 1 year. */
  leafValidityMs?: number;
  /** Renew when less than this is left; default a third of the validity. */
  renewBeforeMs?: number;
  now?: () => Date;
}

export interface ServingMaterial {
  /** PEM: the CAs the API server must trust (the current one first). */
  caBundle: string;
  certPem: string;
  keyPem: string;
  notAfter: Date;
  fingerprint: string;
  /** Whether this operator made it (and so rotates it). */
  managed: boolean;
}

const YEAR_MS = 365 * 24 * 3600_000;

/**
 * The serving certificate shared through the Secret. `load()` reads it (creating it first when
 * absent) and, when the operator manages it, renews what is due: the serving certificate when
 * less than `renewBeforeMs` of it is left (same CA, so the caBundle does not change), the CA
 * when it would expire before a new serving certificate does (the bundle then holds the new
 * and the old CA, so replicas still serving the old certificate keep working). A rotation is an
 * update guarded by resourceVersion: of two replicas renewing at once one wins, the other reads.
 */
export class SharedCertificate {
  private readonly caValidityMs: number;
  private readonly leafValidityMs: number;
  private readonly renewBeforeMs: number;
  private readonly now: () => Date;

  constructor(private readonly client: KubeClient, private readonly options: CertificateOptions) {
    this.caValidityMs = options.caValidityMs ?? 10 * YEAR_MS;
    this.leafValidityMs = options.leafValidityMs ?? YEAR_MS;
    this.renewBeforeMs = options.renewBeforeMs ?? Math.floor(this.leafValidityMs / 3);
    this.now = options.now ?? (() => new Date());
  }

  async load(): Promise<ServingMaterial> {
    const { namespace: ns, secretName: name } = this.options;
    for (let attempt = 0; attempt < 3; attempt++) {
      const secret = await createOrRead(this.client, ns, name, async () => ({ type: 'kubernetes.io/tls', data: await this.fresh() }));
      const material = this.read(secret);
      if (!material.managed || !this.due(material)) return material;
      try {
        const updated = await this.client.request<SecretObject>('PUT', secretPath(ns, name), {
          verb: 'update',
          body: { ...secret, data: await this.renewed(secret) },
        });
        return this.read(updated);
      } catch (err) {
        if (!isConflict(err)) throw err; // another replica renewed first: read theirs
      }
    }
    throw new Error(`secret ${ns}/${name} kept changing while it was renewed`);
  }

  /** Whether `material` must be renewed now. */
  due(material: ServingMaterial): boolean {
    const left = material.notAfter.getTime() - this.now().getTime();
    return left < this.renewBeforeMs || !servesFor(material.certPem, material.caBundle, this.options.names);
  }

  private read(secret: SecretObject): ServingMaterial {
    const data = secret.data ?? {};
    const certPem = unb64(data['tls.crt'])?.toString('utf8');
    const keyPem = unb64(data['tls.key'])?.toString('utf8');
    const caBundle = unb64(data['ca.crt'])?.toString('utf8');
    if (!certPem || !keyPem || !caBundle) {
      throw new Error(`secret ${this.options.namespace}/${this.options.secretName} lacks tls.crt, tls.key or ca.crt`);
    }
    const info = certificateInfo(certPem);
    return { caBundle, certPem, keyPem, notAfter: info.notAfter, fingerprint: info.fingerprint, managed: Boolean(data['ca.key']) };
  }

  private async fresh(): Promise<Record<string, string>> {
    const ca = await createCa(this.now(), this.caValidityMs);
    return this.pack(ca, ca.certPem, await issueServing(ca, this.options.names, this.now(), this.leafValidityMs));
  }

  private async renewed(secret: SecretObject): Promise<Record<string, string>> {
    const data = secret.data ?? {};
    const bundle = unb64(data['ca.crt'])?.toString('utf8') ?? '';
    const ca: PemPair = { certPem: pemBlocks(bundle)[0] ?? '', keyPem: unb64(data['ca.key'])?.toString('utf8') ?? '' };
    const now = this.now();
    const caLeft = certificateInfo(ca.certPem).notAfter.getTime() - now.getTime();
    if (caLeft > this.leafValidityMs + this.renewBeforeMs) {
      return this.pack(ca, bundle, await issueServing(ca, this.options.names, now, this.leafValidityMs));
    }
    const next = await createCa(now, this.caValidityMs);
    const stillValid = pemBlocks(bundle).filter((pem) => certificateInfo(pem).notAfter.getTime() > now.getTime());
    return this.pack(next, [next.certPem.trim(), ...stillValid].join('\n') + '\n', await issueServing(next, this.options.names, now, this.leafValidityMs));
  }

  private pack(ca: PemPair, bundle: string, leaf: PemPair): Record<string, string> {
    return { 'tls.crt': b64(leaf.certPem), 'tls.key': b64(leaf.keyPem), 'ca.crt': b64(bundle), 'ca.key': b64(ca.keyPem) };
  }
}
