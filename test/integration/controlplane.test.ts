// The test control plane itself: kube-controller-manager really runs, RBAC really applies,
// kube-apiserver restarts in place.
import { readFileSync } from 'node:fs';
import { expect } from 'chai';
import { CoreV1Api, RbacAuthorizationV1Api, VersionApi } from '@kubernetes/client-node';
import { apiStatusCode, isNotFound } from '../../src/kube/errors.js';
import { controlPlane } from '../support/hooks.js';
import { kubectlOk } from '../support/kubectl.js';
import { waitFor } from '../support/wait.js';
import type { ControlPlane } from '../support/controlplane.js';

describe('test control plane', function () {
  let cp: ControlPlane;
  let core: CoreV1Api;

  before(async function () {
    this.timeout(180_000);
    cp = await controlPlane();
    core = cp.kubeConfig.makeApiClient(CoreV1Api);
  });

  it('serves the pinned Kubernetes version to kubectl', async function () {
    const out = JSON.parse(await kubectlOk(cp.kubeconfigPath, ['version', '-o', 'json'])) as {
      serverVersion: { gitVersion: string; major: string; minor: string };
    };
    // The one version hack/controlplane/go.mod pins (k8s.io/kubernetes vX.Y.Z).
    const goMod = readFileSync(new URL('../../hack/controlplane/go.mod', import.meta.url), 'utf8');
    const pinned = /^\s*k8s\.io\/kubernetes (v\d+\.\d+\.\d+)\s*$/m.exec(goMod)?.[1];
    expect(pinned, 'go.mod pins k8s.io/kubernetes').to.match(/^v1\.\d+\.\d+$/);
    expect(out.serverVersion.gitVersion).to.equal(pinned);
    expect(`v${out.serverVersion.major}.${out.serverVersion.minor}`).to.equal(pinned?.split('.').slice(0, 2).join('.'));
  });

  it('kube-controller-manager terminates a deleted namespace with its content', async function () {
    this.timeout(90_000);
    await core.createNamespace({ body: { metadata: { name: 'doomed' } } });
    await core.createNamespacedConfigMap({ namespace: 'doomed', body: { metadata: { name: 'content' }, data: { a: 'b' } } });
    await core.deleteNamespace({ name: 'doomed' });
    await waitFor(
      'namespace doomed to disappear',
      async () => {
        try {
          await core.readNamespace({ name: 'doomed' });
          return false;
        } catch (err) {
          return isNotFound(err);
        }
      },
      { timeoutMs: 60_000 },
    );
  });

  it('kube-controller-manager counts quota usage', async function () {
    this.timeout(60_000);
    await core.createNamespace({ body: { metadata: { name: 'quota-counting' } } });
    await core.createNamespacedResourceQuota({
      namespace: 'quota-counting',
      body: { metadata: { name: 'q' }, spec: { hard: { configmaps: '10' } } },
    });
    await core.createNamespacedConfigMap({ namespace: 'quota-counting', body: { metadata: { name: 'one' } } });
    const used = await waitFor('quota status to count the config map', async () => {
      const q = await core.readNamespacedResourceQuota({ namespace: 'quota-counting', name: 'q' });
      const n = q.status?.used?.configmaps;
      // kube-root-ca.crt is not published (no root-ca controller), so only ours counts.
      return n !== undefined && n !== '0' ? n : undefined;
    });
    expect(used).to.equal('1');
  });

  it('authenticates minted users by client certificate and authorizes them by RBAC', async function () {
    const user = await cp.mintUser('rbac-tester', ['tenant-a']);
    const asUser = user.kubeConfig.makeApiClient(CoreV1Api);
    await core.createNamespace({ body: { metadata: { name: 'rbac-check' } } });
    let status: number | undefined;
    try {
      await asUser.listNamespacedConfigMap({ namespace: 'rbac-check' });
    } catch (err) {
      status = apiStatusCode(err);
    }
    expect(status, 'a user without a binding is forbidden').to.equal(403);

    await cp.kubeConfig.makeApiClient(RbacAuthorizationV1Api).createNamespacedRoleBinding({
      namespace: 'rbac-check',
      body: {
        metadata: { name: 'tenant-a-view' },
        roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'ClusterRole', name: 'view' },
        subjects: [{ apiGroup: 'rbac.authorization.k8s.io', kind: 'Group', name: 'tenant-a' }],
      },
    });
    const list = await waitFor('the binding to take effect', () =>
      asUser.listNamespacedConfigMap({ namespace: 'rbac-check' }),
    );
    expect(list.items).to.be.an('array');
    const whoami = JSON.parse(await kubectlOk(user.kubeconfigPath, ['auth', 'whoami', '-o', 'json'])) as {
      status: { userInfo: { username: string; groups: string[] } };
    };
    expect(whoami.status.userInfo.username).to.equal('rbac-tester');
    expect(whoami.status.userInfo.groups).to.include('tenant-a');
  });

  it('restarts kube-apiserver in place, keeping its address and data', async function () {
    this.timeout(120_000);
    await core.createNamespace({ body: { metadata: { name: 'survives-restart' } } });
    const url = cp.apiServerUrl;
    await cp.stopApiServer();
    let down: unknown;
    try {
      await cp.kubeConfig.makeApiClient(VersionApi).getCode();
    } catch (err) {
      down = err;
    }
    expect(down, 'the API server still answered while stopped').to.not.equal(undefined);
    await cp.startApiServer();
    expect(cp.apiServerUrl).to.equal(url);
    const ns = await core.readNamespace({ name: 'survives-restart' });
    expect(ns.metadata?.name).to.equal('survives-restart');
  });
});
