// The webhook configurations of config/webhook/webhooks.yaml, rendered for this deployment
// (clientConfig: the Service or a URL such as https://127.0.0.1:<port> on loopback; caBundle
// from the certificate Secret; the VirtualMachine webhook only where KubeVirt is installed)
// and applied with server-side apply.
import { readFileSync } from 'node:fs';
import { parseAllDocuments } from 'yaml';
import type { PlainObject } from '../kube/apply.js';
import { isNotFound } from '../kube/errors.js';
import type { KubeClient } from '../kube/rest.js';
import { packagePath } from '../package-files.js';

export const KUBEVIRT_CRD = 'virtualmachines.kubevirt.io';

interface Webhook {
  name: string;
  clientConfig: { url?: string; caBundle?: string; service?: { name: string; namespace: string; path?: string; port?: number } };
  rules?: { apiGroups?: string[] }[];
  [field: string]: unknown;
}

type WebhookConfiguration = PlainObject & { webhooks: Webhook[] };

export interface Endpoint {
  /** Base URL (`https://127.0.0.1:9443`) the API server calls; else the Service below. */
  url?: string;
  service?: { name: string; namespace: string; port?: number };
}

export function webhookManifests(): WebhookConfiguration[] {
  const file = packagePath('config', 'webhook', 'webhooks.yaml');
  return parseAllDocuments(readFileSync(file, 'utf8'))
    .map((d) => d.toJS() as WebhookConfiguration | null)
    .filter((d): d is WebhookConfiguration => d !== null);
}

/** The configurations as they are applied (pure). */
export function renderConfigurations(
  manifests: readonly WebhookConfiguration[],
  endpoint: Endpoint,
  caBundlePem: string,
  kubevirt: boolean,
): WebhookConfiguration[] {
  const caBundle = Buffer.from(caBundlePem).toString('base64');
  return manifests.map((m) => ({
    ...m,
    webhooks: m.webhooks
      .filter((w) => kubevirt || !(w.rules ?? []).some((r) => (r.apiGroups ?? []).includes('kubevirt.io')))
      .map((w) => {
        const path = w.clientConfig.service?.path ?? w.clientConfig.url?.replace(/^https:\/\/[^/]+/, '') ?? '/';
        const manifest = w.clientConfig.service ?? { name: 'ovim-operator-webhook', namespace: 'ovim-system' };
        const clientConfig: Webhook['clientConfig'] = endpoint.url
          ? { url: `${endpoint.url.replace(/\/+$/, '')}${path}`, caBundle }
          : { service: { ...manifest, ...endpoint.service, path, port: endpoint.service?.port ?? manifest.port ?? 443 }, caBundle };
        return { ...w, clientConfig };
      }),
  }));
}

export async function kubevirtInstalled(client: KubeClient): Promise<boolean> {
  try {
    await client.get(`/apis/apiextensions.k8s.io/v1/customresourcedefinitions/${KUBEVIRT_CRD}`);
    return true;
  } catch (err) {
    if (isNotFound(err)) return false;
    throw err;
  }
}

export async function applyConfigurations(client: KubeClient, configurations: readonly WebhookConfiguration[]): Promise<void> {
  for (const c of configurations) {
    const plural = c.kind === 'MutatingWebhookConfiguration' ? 'mutatingwebhookconfigurations' : 'validatingwebhookconfigurations';
    await client.patch(`/apis/admissionregistration.k8s.io/v1/${plural}/${encodeURIComponent(c.metadata.name)}`, c, 'apply', {
      fieldManager: 'ovim-operator',
      force: true,
    });
  }
}

