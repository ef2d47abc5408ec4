// The operator's own ClusterRole (config/rbac/role.yaml) is enough: the operator, authenticated
// as a user bound to nothing else, provisions and deletes an organization and a VDC, applies
// the tenant ClusterRoles, records events and serves the event store's watch.
import { expect } from 'chai';
import { CoreV1Api, CustomObjectsApi, PatchStrategy, RbacAuthorizationV1Api, setHeaderOptions } from '@kubernetes/client-node';
import { DEFAULT_CONFIG } from '../../src/config.js';
import { NamespaceOwners, createNamespaceInformer } from '../../src/events/owners.js';
import { EventStore, createEventInformer } from '../../src/events/store.js';
import type { EventRecorder } from '../../src/events/recorder.js';
import { installCrds } from '../../src/kube/crds.js';
import { isNotFound } from '../../src/kube/errors.js';
import { createLogger } from '../../src/log.js';
import { startOperator, type Operator } from '../../src/operator.js';
import type { Organization, VirtualDataCenter } from '../../src/resources/types.js';
import { controlPlane } from '../support/hooks.js';
import { kubectlOk } from '../support/kubectl.js';
import { waitFor } from '../support/wait.js';
import type { ControlPlane } from '../support/controlplane.js';

const USER = 'ovim-operator-rbac-test';
const ORG = 'rbac-least';

describe('operator with only its least-privilege ClusterRole', function () {
  this.timeout(120_000);
  let cp: ControlPlane;
  let op: Operator | undefined;
  let custom: CustomObjectsApi;

  before(async function () {
    this.timeout(180_000);
    cp = await controlPlane();
    await installCrds(cp.kubeConfig);
    await kubectlOk(cp.kubeconfigPath, ['apply', '--server-side', '-f', 'config/rbac/role.yaml']);
    await cp.kubeConfig.makeApiClient(RbacAuthorizationV1Api).createClusterRoleBinding({
      body: {
        metadata: { name: USER },
        roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'ClusterRole', name: 'ovim-operator' },
        subjects: [{ apiGroup: 'rbac.authorization.k8s.io', kind: 'User', name: USER }],
      },
    });
    const user = await cp.mintUser(USER);
    // The ClusterRoleBinding reaches the authorizer's cache shortly after it is created.
    await waitFor('the binding to take effect', () =>
      user.kubeConfig.makeApiClient(CoreV1Api).listNamespace({ limit: 1 }),
    );
    custom = cp.kubeConfig.makeApiClient(CustomObjectsApi);
    op = await startOperator(user.kubeConfig, { ...DEFAULT_CONFIG, resyncPeriodMs: 0 }, createLogger('error', true));
  });

  after(async function () {
    this.timeout(60_000);
    await op?.stop();
  });

  const getOrg = async () =>
    (await custom.getClusterCustomObject({ group: 'ovim.io', version: 'v1', plural: 'organizations', name: ORG })) as Organization;
  const getVdc = async () =>
    (await custom.getNamespacedCustomObject({
      group: 'ovim.io', version: 'v1', plural: 'virtualdatacenters', namespace: `org-${ORG}`, name: 'dev',
    })) as VirtualDataCenter;

  /** The events the operator recorded about one object (by its uid), listed as the admin. */
  const eventsAbout = async (uid: string | undefined, reason: string) =>
    (await cp.kubeConfig.makeApiClient(CoreV1Api).listEventForAllNamespaces({ fieldSelector: `involvedObject.uid=${uid},reason=${reason}` })).items;

  it('provisions an organization and a VDC to Active and records their Created events', async function () {
    await custom.createClusterCustomObject({
      group: 'ovim.io', version: 'v1', plural: 'organizations',
      body: { apiVersion: 'ovim.io/v1', kind: 'Organization', metadata: { name: ORG }, spec: { displayName: 'RBAC', admins: ['rbac-admins'] } },
    });
    await waitFor('organization Active', async () => (await getOrg()).status?.phase === 'Active');
    await custom.createNamespacedCustomObject({
      group: 'ovim.io', version: 'v1', plural: 'virtualdatacenters', namespace: `org-${ORG}`,
      body: {
        apiVersion: 'ovim.io/v1', kind: 'VirtualDataCenter', metadata: { name: 'dev', namespace: `org-${ORG}` },
        spec: { organizationRef: ORG, displayName: 'Dev', quota: { cpu: '2', memory: '4Gi', storage: '10Gi' }, networkPolicy: 'isolated' },
      },
    });
    await waitFor('VDC Active', async () => (await getVdc()).status?.phase === 'Active');
    expect(await (op?.recorder as EventRecorder).flush(20_000)).to.equal(true);
    const described = await kubectlOk(cp.kubeconfigPath, ['describe', 'vdc', 'dev', '-n', `org-${ORG}`]);
    expect(described).to.match(/Normal\s+VDCCreated/);
    expect(await kubectlOk(cp.kubeconfigPath, ['describe', 'organization', ORG])).to.match(/Normal\s+OrganizationCreated/);
    // Both about these very objects (by uid), not about an older namesake of another suite.
    expect(await eventsAbout((await getOrg()).metadata.uid, 'OrganizationCreated')).to.have.length(1);
    expect(await eventsAbout((await getVdc()).metadata.uid, 'VDCCreated')).to.have.length(1);
    const stats = (op?.recorder as EventRecorder).stats();
    expect(stats.writeFailures, 'no event write was refused').to.equal(0);
  });

  it('can feed the event store (list, then watch Events in all namespaces) and the namespace owners', async function () {
    const user = await cp.mintUser(USER);
    const owners = new NamespaceOwners();
    const namespaces = createNamespaceInformer(user.kubeConfig);
    owners.follow(namespaces);
    const store = new EventStore({ namespaceOwners: owners });
    const informer = createEventInformer(user.kubeConfig);
    store.follow(informer);
    namespaces.start();
    informer.start();
    try {
      await Promise.all([informer.waitForSync(), namespaces.waitForSync()]);
      // Listed: this VDC's own VDCCreated Event (by the Event's uid).
      const [created] = await eventsAbout((await getVdc()).metadata.uid, 'VDCCreated');
      expect([...store.records()].some((r) => r.uid === created?.metadata?.uid)).to.equal(true);
      // Watched: an event recorded after the sync arrives through the user's watch.
      await custom.patchNamespacedCustomObject(
        {
          group: 'ovim.io', version: 'v1', plural: 'virtualdatacenters', namespace: `org-${ORG}`, name: 'dev',
          body: { metadata: { annotations: { 'ovim.io/force-reconcile': 'watch-1' } } },
        },
        setHeaderOptions('Content-Type', PatchStrategy.MergePatch),
      );
      const [forced] = await waitFor('ReconcileForced on the VDC', async () => {
        const list = await eventsAbout((await getVdc()).metadata.uid, 'ReconcileForced');
        return list.length > 0 ? list : undefined;
      });
      await waitFor('the watched event in the store', async () => [...store.records()].some((r) => r.uid === forced?.metadata?.uid));
      // By the watch: one list in all, no restart (a refused watch would relist on every retry).
      expect(informer.stats).to.include({ lists: 1, restarts: 0 });
      expect(informer.stats.watches).to.be.at.least(1);
      // The namespace owners come from the labels on the namespaces the operator provisioned.
      expect(owners.ownerOf(`org-${ORG}`)).to.equal(ORG);
      expect(owners.ownerOf(`vdc-${ORG}-dev`)).to.equal(ORG);
    } finally {
      informer.stop();
      namespaces.stop();
    }
  });

  it('deletes the VDC and the organization, with their namespaces', async function () {
    const core = cp.kubeConfig.makeApiClient(CoreV1Api);
    await custom.deleteNamespacedCustomObject({
      group: 'ovim.io', version: 'v1', plural: 'virtualdatacenters', namespace: `org-${ORG}`, name: 'dev',
    });
    await custom.deleteClusterCustomObject({ group: 'ovim.io', version: 'v1', plural: 'organizations', name: ORG });
    const gone = async (read: () => Promise<unknown>) => {
      try {
        await read();
        return false;
      } catch (err) {
        return isNotFound(err);
      }
    };
    await waitFor('the organization to be gone', () => gone(getOrg), { timeoutMs: 90_000 });
    expect(await gone(() => core.readNamespace({ name: `vdc-${ORG}-dev` }))).to.equal(true);
    expect(await gone(() => core.readNamespace({ name: `org-${ORG}` }))).to.equal(true);
  });
});
