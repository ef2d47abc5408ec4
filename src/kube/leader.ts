// Leader election on a coordination.k8s.io/v1 Lease, with client-go's semantics: a candidate
// takes the lease when it is free or its holder has not renewed it for leaseDuration (measured
// on the local clock from when the candidate last saw the record change, so clock skew between
// replicas does not matter); the leader renews every retryPeriod and gives up leadership when
// it could not renew for renewDeadline; stop() releases the lease so a successor takes over at
// once.
import type { Logger } from 'winston';
import { sleep } from './backoff.js';
import { isConflict, isNotFound } from './errors.js';
import type { KubeClient } from './rest.js';

export interface LeaderElectionOptions {
  client: KubeClient;
  namespace: string;
  name: string;
  identity: string;
  leaseDurationMs?: number;
  renewDeadlineMs?: number;
  retryPeriodMs?: number;
  logger?: Logger;
}

export interface LeaderCallbacks {
  onStartedLeading: () => void | Promise<void>;
  /** Leadership was lost (not called after stop()). */
  onStoppedLeading: () => void;
}

interface Lease {
  apiVersion: string;
  kind: string;
  metadata: { name: string; namespace: string; resourceVersion?: string };
  spec?: {
    holderIdentity?: string;
    leaseDurationSeconds?: number;
    acquireTime?: string;
    renewTime?: string;
    leaseTransitions?: number;
  };
}

/** metav1.MicroTime: RFC 3339 with microseconds. */
function microTime(d: Date): string {
  return d.toISOString().replace(/\.(\d{3})Z$/, '.$1000Z');
}

export class LeaderElector {
  private readonly leaseDurationMs: number;
  private readonly renewDeadlineMs: number;
  private readonly retryPeriodMs: number;
  private readonly abort = new AbortController();
  private leading = false;
  private observedRecord = '';
  private observedAt = 0;
  private loop: Promise<void> | undefined;

  constructor(private readonly options: LeaderElectionOptions) {
    this.leaseDurationMs = options.leaseDurationMs ?? 15_000;
    this.renewDeadlineMs = options.renewDeadlineMs ?? 10_000;
    this.retryPeriodMs = options.retryPeriodMs ?? 2_000;
    if (!(this.leaseDurationMs > this.renewDeadlineMs && this.renewDeadlineMs > this.retryPeriodMs)) {
      throw new Error('leader election needs leaseDuration > renewDeadline > retryPeriod');
    }
  }

  isLeader(): boolean {
    return this.leading;
  }

  get identity(): string {
    return this.options.identity;
  }

  private get path(): string {
    return `/apis/coordination.k8s.io/v1/namespaces/${encodeURIComponent(this.options.namespace)}/leases`;
  }

  /** Campaigns, leads, and campaigns again after a loss, until stop(). */
  run(callbacks: LeaderCallbacks): void {
    this.loop ??= (async () => {
      const signal = this.abort.signal;
      while (!signal.aborted) {
        // Campaign.
        while (!signal.aborted && !(await this.tryAcquireOrRenew())) {
          await sleep(this.retryPeriodMs * (1 + 0.2 * Math.random()), signal);
        }
        if (signal.aborted) break;
        this.leading = true;
        this.options.logger?.info(`became the leader (${this.options.identity}) on lease ${this.options.namespace}/${this.options.name}`);
        try {
          await callbacks.onStartedLeading();
        } catch (err) {
          this.options.logger?.error(`starting as leader failed: ${(err as Error).message}`);
        }
        // Renew until it fails for renewDeadline. Each attempt is cut off at the deadline: a hung
        // request must not keep us leading past a lease that another replica may take.
        let lastRenew = Date.now();
        while (!signal.aborted) {
          await sleep(this.retryPeriodMs, signal);
          if (signal.aborted) break;
          const left = this.renewDeadlineMs - (Date.now() - lastRenew);
          if (left > 0 && (await this.tryAcquireOrRenew(AbortSignal.timeout(left)))) lastRenew = Date.now();
          else if (Date.now() - lastRenew >= this.renewDeadlineMs) break;
        }
        if (signal.aborted) break;
        this.leading = false;
        this.options.logger?.warn(`lost the leadership of lease ${this.options.namespace}/${this.options.name}`);
        callbacks.onStoppedLeading();
      }
    })();
  }

  /** Stops campaigning; a leader releases the lease so that another replica takes over at once. */
  async stop(): Promise<void> {
    this.abort.abort();
    await this.loop;
    if (!this.leading) return;
    this.leading = false;
    try {
      const lease = await this.options.client.get<Lease>(`${this.path}/${encodeURIComponent(this.options.name)}`);
      if (lease.spec?.holderIdentity !== this.options.identity) return;
      await this.options.client.request('PUT', `${this.path}/${encodeURIComponent(this.options.name)}`, {
        verb: 'update',
        body: {
          ...lease,
          spec: { ...lease.spec, holderIdentity: '', leaseDurationSeconds: 1, renewTime: microTime(new Date()) },
        },
      });
    } catch (err) {
      this.options.logger?.warn(`releasing the lease failed: ${(err as Error).message}`);
    }
  }

  /** One attempt; true when we hold the lease afterwards. `deadline` aborts its requests. */
  async tryAcquireOrRenew(deadline?: AbortSignal): Promise<boolean> {
    const { client, name, namespace, identity } = this.options;
    const now = new Date();
    const leaseSeconds = Math.ceil(this.leaseDurationMs / 1000);
    let lease: Lease;
    try {
      lease = await client.get<Lease>(`${this.path}/${encodeURIComponent(name)}`, undefined, deadline);
    } catch (err) {
      if (!isNotFound(err)) return this.failed(err);
      try {
        await client.create(this.path, {
          apiVersion: 'coordination.k8s.io/v1',
          kind: 'Lease',
          metadata: { name, namespace },
          spec: { holderIdentity: identity, leaseDurationSeconds: leaseSeconds, acquireTime: microTime(now), renewTime: microTime(now), leaseTransitions: 0 },
        }, undefined, deadline);
        return true;
      } catch (createErr) {
        return this.failed(createErr);
      }
    }
    const spec = lease.spec ?? {};
    const record = JSON.stringify([spec.holderIdentity, spec.renewTime, spec.leaseDurationSeconds]);
    if (record !== this.observedRecord) {
      this.observedRecord = record;
      this.observedAt = Date.now();
    }
    const holder = spec.holderIdentity ?? '';
    const duration = (spec.leaseDurationSeconds ?? leaseSeconds) * 1000;
    const held = holder !== '' && holder !== identity && this.observedAt + duration > Date.now();
    if (held) return false;
    const mine = holder === identity;
    try {
      await client.request('PUT', `${this.path}/${encodeURIComponent(name)}`, {
        verb: 'update',
        signal: deadline,
        body: {
          ...lease,
          spec: {
            holderIdentity: identity,
            leaseDurationSeconds: leaseSeconds,
            acquireTime: mine && spec.acquireTime ? spec.acquireTime : microTime(now),
            renewTime: microTime(now),
            leaseTransitions: mine ? (spec.leaseTransitions ?? 0) : (spec.leaseTransitions ?? 0) + 1,
          },
        },
      });
      return true;
    } catch (err) {
      return this.failed(err);
    }
  }

  private failed(err: unknown): false {
    if (!isConflict(err)) this.options.logger?.debug(`lease ${this.options.namespace}/${this.options.name}: ${(err as Error).message}`);
    return false;
  }
}
