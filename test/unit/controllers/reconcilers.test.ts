// The reconcilers against in-memory caches and a fake client that logs every request: an
// up-to-date object costs no request and no event; a first provisioning writes in order and
// records Created after the status write; a stale cache (409) records nothing; a throwing
// recorder does not fail the reconcile.
import { expect } from 'chai';
import type { KubeObject } from '../../../src/kube/meta.js';
import { OrganizationReconciler } from '../../../src/controllers/organization.js';
import { VdcReconciler } from '../../../src/controllers/vdc.js';
import type { EventSink, Store } from '../../../src/controllers/common.js';
import type { PlainObject } from '../../../src/kube/apply.js';
import { KubeApiError, type KubeClient } from '../../../src/kube/rest.js';
import { desiredOrganizationNamespace, desiredVdcNamespace } from '../../../src/resources/namespace.js';
import { desiredOrganizationRoleBindings, desiredVdcRoleBindings } from '../../../src/resources/rbac.js';
import { desiredResourceQuota } from '../../../src/resources/quota.js';
import { desiredLimitRange } from '../../../src/resources/limitrange.js';
import { desiredNetworkPolicy } from '../../../src/resources/networkpolicy.js';
import type { Organization, VirtualDataCenter } from '../../../src/resources/types.js';
import { DeliveryLedger } from '../../../src/controllers/delivery-ledger.js';
import type { DeliveryCallback } from '../../../src/events/types.js';

class MapStore<T extends KubeObject> implements Store<T> {
  constructor(private readonly items: T[] = []) {}
  get(name: string, namespace?: string): T | undefined {
    return this.items.find((i) => i.metadata?.name === name && (namespace === undefined || i.metadata?.namespace === namespace));
  }
  list(): T[] {
    return this.items;
  }
}

interface Call {
  method: string;
  path: string;
  body?: unknown;
}

function fakeClient(options: { conflictOnStatus?: boolean } = {}): { client: KubeClient; calls: Call[] } {
  const calls: Call[] = [];
  const client = {
    async get(path: string) {
      calls.push({ method: 'GET', path });
      throw new KubeApiError(404, 'not found', {});
    },
    async create(path: string, body: unknown) {
      calls.push({ method: 'POST', path, body });
      return body;
    },
    async patch(path: string, body: { metadata?: { finalizers?: string[] } }) {
      calls.push({ method: 'PATCH', path, body });
      if (options.conflictOnStatus && path.endsWith('/status')) throw new KubeApiError(409, 'the object has been modified', {});
      return { apiVersion: 'ovim.io/v1', kind: 'Organization', metadata: { name: 'acme', generation: 1, resourceVersion: '2', finalizers: body.metadata?.finalizers }, spec: { displayName: 'Acme', admins: ['admins'] } };
    },
    async delete(path: string) {
      calls.push({ method: 'DELETE', path });
      return {};
    },
    async list(path: string) {
      calls.push({ method: 'LIST', path });
      return { items: [] };
    },
  };
  return { client: client as unknown as KubeClient, calls };
}

function recordingSink(options: { throws?: boolean } = {}): EventSink & { recorded: string[] } {
  const recorded: string[] = [];
  const note = (reason: string) => {
    recorded.push(reason);
    if (options.throws) throw new Error('recorder broke');
  };
  return {
    recorded,
    record: (_o, _t, reason) => note(reason),
    recordOrganizationCreated: () => note('OrganizationCreated'),
    recordOrganizationUpdated: () => note('OrganizationUpdated'),
    recordOrganizationDeleted: () => note('OrganizationDeleted'),
    recordOrganizationReconcileForced: () => note('ReconcileForced'),
    recordVdcCreated: () => note('VDCCreated'),
    recordVdcUpdated: () => note('VDCUpdated'),
    recordVdcDeleted: () => note('VDCDeleted'),
    recordVdcReconcileForced: () => note('ReconcileForced'),
  };
}

const now = () => new Date('2026-01-01T00:00:00Z');

function organization(status?: Organization['status'], finalizers = ['ovim.io/organization-cleanup']): Organization {
  return {
    apiVersion: 'ovim.io/v1',
    kind: 'Organization',
    metadata: { name: 'acme', generation: 1, resourceVersion: '1', finalizers },
    spec: { displayName: 'Acme', admins: ['admins'], isEnabled: true },
    status,
  };
}

const provisionedOrgStatus = (): Organization['status'] => ({
  namespace: 'org-acme',
  phase: 'Active',
  vdcCount: 0,
  observedGeneration: 1,
  conditions: [
    {
      type: 'Ready',
      status: 'True',
      observedGeneration: 1,
      lastTransitionTime: '2025-12-01T00:00:00Z',
      reason: 'Provisioned',
      message: 'Namespace org-acme and 1 admin role binding(s) are in place',
    },
  ],
});

function orgReconciler(org: Organization, client: KubeClient, events: EventSink, children = true, more: { vdcs?: VirtualDataCenter[]; settling?: boolean } = {}) {
  const ns = desiredOrganizationNamespace('acme') as PlainObject;
  const rbs = desiredOrganizationRoleBindings('acme', ['admins']) as PlainObject[];
  return new OrganizationReconciler({
    client,
    events,
    now,
    vdcCountSettling: () => more.settling === true,
    organizations: new MapStore([org]),
    vdcs: new MapStore<VirtualDataCenter>(more.vdcs ?? []),
    namespaces: new MapStore<PlainObject>(children ? [ns] : []),
    roleBindings: new MapStore<PlainObject>(children ? rbs : []),
  });
}

describe('OrganizationReconciler', () => {
  it('an up-to-date organization costs no request and records nothing', async () => {
    const { client, calls } = fakeClient();
    const events = recordingSink();
    await orgReconciler(organization(provisionedOrgStatus()), client, events).reconcile('acme');
    expect(calls).to.deep.equal([]);
    expect(events.recorded).to.deep.equal([]);
  });

  it('a new organization: finalizer, namespace, role binding, status, then OrganizationCreated', async () => {
    const { client, calls } = fakeClient();
    const events = recordingSink();
    await orgReconciler(organization(undefined, []), client, events, false).reconcile('acme');
    expect(calls.map((c) => `${c.method} ${c.path}`)).to.deep.equal([
      'PATCH /apis/ovim.io/v1/organizations/acme',
      'POST /api/v1/namespaces',
      `PATCH /apis/rbac.authorization.k8s.io/v1/namespaces/org-acme/rolebindings/${desiredOrganizationRoleBindings('acme', ['admins'])[0]?.metadata.name}`,
      'PATCH /apis/ovim.io/v1/organizations/acme/status',
    ]);
    const status = calls[3]?.body as { metadata: { resourceVersion: string }; status: { phase: string; namespace: string } };
    expect(status.metadata.resourceVersion, 'the status write is guarded by the version it was decided on').to.equal('2');
    expect(status.status).to.include({ phase: 'Active', namespace: 'org-acme' });
    expect(events.recorded).to.deep.equal(['OrganizationCreated']);
  });

  it('vdcCount waits while VDCs are still coming (no write), then is written once', async () => {
    const vdcs = ['a', 'b', 'c'].map((name): VirtualDataCenter => ({
      apiVersion: 'ovim.io/v1',
      kind: 'VirtualDataCenter',
      metadata: { name, namespace: 'org-acme' },
      spec: { organizationRef: 'acme', displayName: name, quota: { cpu: '1', memory: '1Gi', storage: '1Gi' } },
    }));
    const settling = fakeClient();
    await orgReconciler(organization(provisionedOrgStatus()), settling.client, recordingSink(), true, { vdcs, settling: true }).reconcile('acme');
    expect(settling.calls).to.deep.equal([]);
    const settled = fakeClient();
    await orgReconciler(organization(provisionedOrgStatus()), settled.client, recordingSink(), true, { vdcs }).reconcile('acme');
    expect(settled.calls.map((c) => `${c.method} ${c.path}`)).to.deep.equal(['PATCH /apis/ovim.io/v1/organizations/acme/status']);
    expect((settled.calls[0]?.body as { status: { vdcCount: number } }).status.vdcCount).to.equal(3);
  });

  it('a stale cache makes the status write fail (409) and records nothing', async () => {
    const { client } = fakeClient({ conflictOnStatus: true });
    const events = recordingSink();
    let error: unknown;
    await orgReconciler(organization(undefined), client, events).reconcile('acme').catch((err: unknown) => (error = err));
    expect((error as KubeApiError).code).to.equal(409);
    expect(events.recorded).to.deep.equal([]);
  });

  it('a recorder that throws does not fail the reconcile', async () => {
    const { client } = fakeClient();
    const events = recordingSink({ throws: true });
    await orgReconciler(organization(undefined), client, events).reconcile('acme');
    expect(events.recorded).to.deep.equal(['OrganizationCreated']);
  });
});

describe('VdcReconciler', () => {
  const vdcObj = (status?: VirtualDataCenter['status'], namespace = 'org-acme'): VirtualDataCenter => ({
    apiVersion: 'ovim.io/v1',
    kind: 'VirtualDataCenter',
    metadata: { name: 'dev', namespace, generation: 1, resourceVersion: '1', finalizers: ['ovim.io/vdc-cleanup'] },
    spec: { organizationRef: 'acme', displayName: 'Dev', quota: { cpu: '4', memory: '8Gi', storage: '100Gi', pods: 100, virtualMachines: 50 }, networkPolicy: 'default' },
    status,
  });

  function reconciler(vdc: VirtualDataCenter, client: KubeClient, events: EventSink, deliveries?: DeliveryLedger) {
    const org = organization(provisionedOrgStatus());
    const ws = desiredVdcNamespace('acme', 'dev') as PlainObject;
    return new VdcReconciler({
      client,
      events,
      now,
      deliveries,
      organizations: new MapStore([org]),
      vdcs: new MapStore([vdc]),
      namespaces: new MapStore<PlainObject>([ws]),
      roleBindings: new MapStore<PlainObject>(desiredVdcRoleBindings('acme', 'dev', ['admins']) as PlainObject[]),
      quotas: new MapStore<PlainObject>([desiredResourceQuota('acme', 'dev', vdc.spec.quota) as PlainObject]),
      limitRanges: new MapStore<PlainObject>([desiredLimitRange('acme', 'dev', undefined) as PlainObject]),
      networkPolicies: new MapStore<PlainObject>([desiredNetworkPolicy('acme', 'dev', 'default') as PlainObject]),
    });
  }

  it('an up-to-date VDC costs no request and records nothing', async () => {
    const { client, calls } = fakeClient();
    const events = recordingSink();
    const status: VirtualDataCenter['status'] = {
      namespace: 'vdc-acme-dev',
      phase: 'Active',
      observedGeneration: 1,
      conditions: [
        {
          type: 'Ready',
          status: 'True',
          observedGeneration: 1,
          lastTransitionTime: '2025-12-01T00:00:00Z',
          reason: 'Provisioned',
          message: 'Namespace vdc-acme-dev with quota, limits, network policy and RBAC is in place',
        },
      ],
    };
    await reconciler(vdcObj(status), client, events).reconcile('org-acme/dev');
    expect(calls).to.deep.equal([]);
    expect(events.recorded).to.deep.equal([]);
  });

  describe('with the delivery ledger', () => {
    /** A sink whose VDCCreated is delivered at once (the API server holds the Event). */
    const delivering = (): EventSink & { recorded: string[] } => {
      const sink = recordingSink();
      sink.recordVdcCreated = (_v, _o, _a, onDelivered?: DeliveryCallback) => {
        sink.recorded.push('VDCCreated');
        onDelivered?.(true);
      };
      return sink;
    };
    const ledgerClient = () => fakeClient().client;
    const provisioned = (marker: Pick<NonNullable<VirtualDataCenter['status']>, 'pendingEvents' | 'pendingEventsTicket'>): VirtualDataCenter['status'] => ({
      namespace: 'vdc-acme-dev',
      phase: 'Active',
      observedGeneration: 1,
      conditions: [
        { type: 'Ready', status: 'True', observedGeneration: 1, lastTransitionTime: '2025-12-01T00:00:00Z', reason: 'Provisioned', message: 'Namespace vdc-acme-dev with quota, limits, network policy and RBAC is in place' },
      ],
      ...marker,
    });

    it('one status write per new VDC: the marker and its ticket go with Active; the confirmation writes no status', async () => {
      const deliveries = new DeliveryLedger({ client: ledgerClient(), namespace: 'ovim-system', epoch: 'e1', flushDelayMs: 3_600_000, flushMaxDelayMs: 3_600_000 });
      const { client, calls } = fakeClient();
      const events = delivering();
      const r = reconciler(vdcObj(undefined), client, events, deliveries);
      await r.reconcile('org-acme/dev');
      const writes = calls.filter((c) => c.path.endsWith('/status'));
      expect(writes).to.have.length(1);
      expect((writes[0]?.body as { status: object }).status).to.include({ phase: 'Active' }).and.deep.include({ pendingEvents: ['VDCCreated'], pendingEventsTicket: 'e1.1' });
      expect(events.recorded).to.deep.equal(['VDCCreated']);
      expect(deliveries.isResolved('e1.1'), 'the delivery is in the ledger').to.equal(true);
      // The cache now shows the written status, marker included: nothing left to write or record.
      const next = fakeClient();
      await reconciler(vdcObj(provisioned({ pendingEvents: ['VDCCreated'], pendingEventsTicket: 'e1.1' })), next.client, events, deliveries).reconcile('org-acme/dev');
      expect(next.calls).to.deep.equal([]);
      expect(events.recorded).to.deep.equal(['VDCCreated']);
    });

    it('a status write refused with 409 leaves no gap: its ticket is resolved (no status carries it), nothing recorded', async () => {
      const deliveries = new DeliveryLedger({ client: ledgerClient(), namespace: 'ovim-system', epoch: 'e3', flushDelayMs: 3_600_000, flushMaxDelayMs: 3_600_000 });
      const { client } = fakeClient({ conflictOnStatus: true });
      const events = delivering();
      const error = await reconciler(vdcObj(undefined), client, events, deliveries).reconcile('org-acme/dev').then(() => undefined, (err: unknown) => err);
      expect((error as KubeApiError).code).to.equal(409);
      expect(deliveries.isResolved('e3.1')).to.equal(true);
      expect(events.recorded).to.deep.equal([]);
    });

    it('after a restart: a ticket the ledger holds needs no Event (expired ones included); one it lacks is looked up and recorded', async () => {
      const deliveries = new DeliveryLedger({ client: ledgerClient(), namespace: 'ovim-system', epoch: 'e2', flushDelayMs: 3_600_000, flushMaxDelayMs: 3_600_000 });
      deliveries.resolve('e1.1');
      const held = fakeClient();
      const events = delivering();
      await reconciler(vdcObj(provisioned({ pendingEvents: ['VDCCreated'], pendingEventsTicket: 'e1.1' })), held.client, events, deliveries).reconcile('org-acme/dev');
      expect(held.calls, 'no Event list, no write').to.deep.equal([]);
      expect(events.recorded).to.deep.equal([]);
      const lacking = fakeClient();
      const earlier = vdcObj(provisioned({ pendingEvents: ['VDCCreated'], pendingEventsTicket: 'e1.2' }));
      earlier.metadata.uid = 'uid-1';
      await reconciler(earlier, lacking.client, events, deliveries).reconcile('org-acme/dev');
      expect(lacking.calls.map((c) => c.method), 'the Event is looked up (none), no status write').to.deep.equal(['LIST']);
      expect(events.recorded).to.deep.equal(['VDCCreated']);
      expect(deliveries.isResolved('e1.2')).to.equal(true);
    });
  });

  it('a VDC outside its organization namespace fails once with CreationFailed and provisions nothing', async () => {
    const { client, calls } = fakeClient();
    const events = recordingSink();
    await reconciler(vdcObj(undefined, 'default'), client, events).reconcile('default/dev');
    expect(calls.map((c) => `${c.method} ${c.path}`)).to.deep.equal(['PATCH /apis/ovim.io/v1/namespaces/default/virtualdatacenters/dev/status']);
    expect((calls[0]?.body as { status: { phase: string } }).status.phase).to.equal('Failed');
    expect(events.recorded).to.deep.equal(['CreationFailed']);
  });
});

describe('orphan namespaces', () => {
  it('a VDC deleted before its finalizer landed gets no namespace: the finalizer comes first, nothing is left to collect', async () => {
    const calls: Call[] = [];
    const vdc: VirtualDataCenter = {
      apiVersion: 'ovim.io/v1',
      kind: 'VirtualDataCenter',
      metadata: { name: 'dev', namespace: 'org-acme', generation: 1, resourceVersion: '1' },
      spec: { organizationRef: 'acme', displayName: 'Dev', quota: { cpu: '4', memory: '8Gi', storage: '100Gi' } },
    };
    const vdcs = new MapStore<VirtualDataCenter>([vdc]);
    const namespaces = new MapStore<PlainObject>([]);
    const client = {
      async get(path: string) {
        calls.push({ method: 'GET', path });
        throw new KubeApiError(404, 'not found', {});
      },
      async create(path: string, body: unknown) {
        calls.push({ method: 'POST', path, body });
        return body;
      },
      async patch(path: string) {
        calls.push({ method: 'PATCH', path });
        throw new KubeApiError(404, 'virtualdatacenters "dev" not found', {}); // deleted meanwhile
      },
      async delete(path: string) {
        calls.push({ method: 'DELETE', path });
        return {};
      },
    } as unknown as KubeClient;
    const reconciler = new VdcReconciler({
      client,
      events: recordingSink(),
      now,
      organizations: new MapStore([organization(provisionedOrgStatus())]),
      vdcs,
      namespaces,
      roleBindings: new MapStore<PlainObject>(),
      quotas: new MapStore<PlainObject>(),
      limitRanges: new MapStore<PlainObject>(),
      networkPolicies: new MapStore<PlainObject>(),
    });
    let error: unknown;
    await reconciler.reconcile('org-acme/dev').catch((err: unknown) => (error = err));
    expect((error as KubeApiError).code).to.equal(404);
    expect(calls.map((c) => c.method), 'only the finalizer patch, no namespace').to.deep.equal(['PATCH']);

    // The informers now show the VDC gone: nothing to do, nothing to collect.
    vdcs.list().splice(0);
    calls.splice(0);
    await reconciler.reconcile('org-acme/dev');
    expect(calls).to.deep.equal([]);
  });

  it('a namespace labelled as ours whose VDC this process never provisioned is left alone', async () => {
    const { client, calls } = fakeClient();
    const reconciler = new VdcReconciler({
      client,
      events: recordingSink(),
      now,
      organizations: new MapStore<Organization>(),
      vdcs: new MapStore<VirtualDataCenter>(),
      namespaces: new MapStore<PlainObject>([desiredVdcNamespace('acme', 'dev') as PlainObject]),
      roleBindings: new MapStore<PlainObject>(),
      quotas: new MapStore<PlainObject>(),
      limitRanges: new MapStore<PlainObject>(),
      networkPolicies: new MapStore<PlainObject>(),
    });
    await reconciler.reconcile('org-acme/dev');
    expect(calls).to.deep.equal([]);
  });
});
