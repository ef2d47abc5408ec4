// The admission webhook in the operator process (DESIGN.md section 8): loads the shared key and
// certificate, serves the webhook, applies its configurations with the caBundle, and checks
// every `checkIntervalMs` for a renewal (its own or another replica's, or cert-manager's) and
// for KubeVirt having been installed.
import type { KubeConfig } from '@kubernetes/client-node';
import type { Logger } from 'winston';
import type { WebhookConfig } from '../config.js';
import { EventRecorder } from '../events/recorder.js';
import { apiErrorMessage } from '../kube/errors.js';
import { KubeClient } from '../kube/rest.js';
import { applyConfigurations, kubevirtInstalled, renderConfigurations, webhookManifests } from './configurations.js';
import { sharedActorKey, SharedCertificate, type CertificateOptions, type ServingMaterial } from './secrets.js';
import { AdmissionServer } from './server.js';
import { ActorVerifier } from './stamps.js';

export { ActorVerifier } from './stamps.js';

export interface AdmissionOptions {
  /** The operator's namespace: the Secrets live there (and the Service, in a cluster). */
  namespace: string;
  logger?: Logger;
  /** Default 60 s (tests use short-lived certificates and a short interval). */
  checkIntervalMs?: number;
  /** Whether to apply the webhook configurations (default true). */
  installConfigurations?: boolean;
  certificate?: Pick<CertificateOptions, 'caValidityMs' | 'leafValidityMs' | 'renewBeforeMs'>;
}

export interface Admission {
  verifier: ActorVerifier;
  port: number;
  /** The certificate served now. */
  material(): ServingMaterial;
  /** Runs one renewal check now (the timer does it every checkIntervalMs). */
  check(): Promise<void>;
  stop(): Promise<void>;
}

export async function startAdmission(kc: KubeConfig, config: WebhookConfig, options: AdmissionOptions): Promise<Admission> {
  const logger = options.logger;
  const client = await KubeClient.create(kc, { userAgent: 'ovim-operator/webhook' });
  const key = await sharedActorKey(client, options.namespace, `${config.secretName}-actor-key`);
  const verifier = new ActorVerifier(key);
  const host = config.url ? new URL(config.url).hostname.replace(/^\[|\]$/g, '') : undefined;
  const isIp = host !== undefined && /^[\d.]+$|:/.test(host);
  const names = {
    dnsNames: [
      `${config.service}.${options.namespace}.svc`,
      `${config.service}.${options.namespace}.svc.cluster.local`,
      ...(host && !isIp ? [host] : []),
    ],
    ips: host && isIp ? [host] : [],
  };
  const certificate = new SharedCertificate(client, {
    namespace: options.namespace,
    secretName: config.secretName,
    names,
    ...options.certificate,
  });
  let material = await certificate.load();
  const events = EventRecorder.create(kc, { component: 'ovim-controller', logger, actorVerifier: verifier });
  const trusted = new Set(config.trustedRequesters);
  const server = new AdmissionServer({
    tls: material,
    context: () => ({ key, trusted, now: new Date() }),
    client,
    events,
    logger,
  });
  const port = await server.listen(config.port, config.host);
  const endpoint = config.url ? { url: config.url } : { service: { name: config.service, namespace: options.namespace } };
  let kubevirt: boolean | undefined;
  let applied: string | undefined;
  const install = async () => {
    if (options.installConfigurations === false) return;
    kubevirt = await kubevirtInstalled(client);
    const wanted = `${material.caBundle}\u0000${kubevirt}`;
    if (wanted === applied) return;
    await applyConfigurations(client, renderConfigurations(webhookManifests(), endpoint, material.caBundle, kubevirt));
    applied = wanted;
    logger?.info(`webhook configurations applied (KubeVirt VirtualMachines ${kubevirt ? 'included' : 'absent'})`);
  };
  try {
    await install();
  } catch (err) {
    await server.close();
    await events.stop(1_000);
    client.close();
    throw err;
  }
  logger?.info(`admission webhook listening on ${config.host}:${port}`);

  let served = material.fingerprint;
  let checking: Promise<void> | undefined;
  const check = () =>
    (checking ??= (async () => {
      try {
        const next = await certificate.load();
        material = next;
        // The bundle first (on a CA change it holds the old CA too), then the new certificate.
        await install();
        if (next.fingerprint !== served) {
          server.setCertificate(next);
          served = next.fingerprint;
          logger?.info(`webhook certificate renewed; valid until ${next.notAfter.toISOString()}`);
        }
      } catch (err) {
        logger?.warn(`webhook certificate check failed: ${apiErrorMessage(err)}`);
      } finally {
        checking = undefined;
      }
    })());
  const timer = setInterval(() => void check(), options.checkIntervalMs ?? 60_000);
  timer.unref();

  let stopped: Promise<void> | undefined;
  return {
    verifier,
    port,
    material: () => material,
    check,
    stop() {
      stopped ??= (async () => {
        clearInterval(timer);
        await checking;
        await server.close();
        await events.stop(5_000);
        client.close();
      })();
      return stopped;
    },
  };
}
