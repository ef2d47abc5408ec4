// Tenant isolation in VDC namespaces, on the real API server with the harness's admission
// policies (config/policies) and Pod Security admission: what an organization's admin (bound to
// ovim:vdc-admin by the operator) can and cannot run or expose. Tenants act through kubectl
// impersonation (`--as`, `--as-group`), as an attacker with their credentials would.
import { randomBytes } from 'node:crypto';
import { expect } from 'chai';
import { DEFAULT_CONFIG } from '../../src/config.js';
import { installCrds } from '../../src/kube/crds.js';
import { KubeClient } from '../../src/kube/rest.js';
import { createLogger } from '../../src/log.js';
import { startOperator, type Operator } from '../../src/operator.js';
import type { VirtualDataCenter, VirtualDataCenterSpec } from '../../src/resources/types.js';
import { controlPlane } from '../support/hooks.js';
import { kubectl, type KubectlResult } from '../support/kubectl.js';
import { waitFor } from '../support/wait.js';
import type { ControlPlane } from '../support/controlplane.js';

const sfx = randomBytes(2).toString('hex');
const ORG = `iso-${sfx}`;
/** The organization the operator is started with --allow-privileged-organization for. */
const LAB = `lab-${sfx}`;
const NS = `vdc-${ORG}-dev`;
const TENANT = ['--as', `alice-${sfx}`, '--as-group', `${ORG}-admins`];

const POD_SECURITY_DENIAL = /violates PodSecurity "baseline:latest"/;

function pod(name: string, spec: Record<string, unknown> = {}, container: Record<string, unknown> = {}): string {
  return JSON.stringify({
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: { name },
    spec: { automountServiceAccountToken: false, containers: [{ name: 'app', image: 'app:1', ...container }], ...spec },
  });
}

function service(name: string, spec: Record<string, unknown>): string {
  return JSON.stringify({
    apiVersion: 'v1',
    kind: 'Service',
    metadata: { name },
    spec: { selector: { app: name }, ports: [{ port: 80 }], ...spec },
  });
}

describe('tenant isolation in VDC namespaces', function () {
  this.timeout(120_000);
  let cp: ControlPlane;
  let api: KubeClient;
  let op: Operator | undefined;

  /** A tenant's server-side dry run of creating `manifest` in `ns`: admission decides, nothing is stored. */
  const tenantCreate = (manifest: string, ns = NS, as = TENANT): Promise<KubectlResult> =>
    kubectl(cp.kubeconfigPath, [...as, '-n', ns, 'create', '--dry-run=server', '-f', '-'], manifest);

  const vdcPath = (org: string, name: string) => `/apis/ovim.io/v1/namespaces/org-${org}/virtualdatacenters/${name}`;
  const nsLabels = async (ns: string) =>
    (await api.get<{ metadata: { labels?: Record<string, string> } }>(`/api/v1/namespaces/${ns}`)).metadata.labels ?? {};

  async function createVdc(org: string, name: string, spec: Partial<VirtualDataCenterSpec> = {}): Promise<void> {
    await api.create(`/apis/ovim.io/v1/namespaces/org-${org}/virtualdatacenters`, {
      apiVersion: 'ovim.io/v1',
      kind: 'VirtualDataCenter',
      metadata: { name, namespace: `org-${org}` },
      spec: { organizationRef: org, displayName: name, quota: { cpu: '4', memory: '8Gi', storage: '10Gi' }, ...spec },
    });
  }

  /** The VDC Active and its namespace ready for pods (the default ServiceAccount exists). */
  async function vdcReady(org: string, name: string): Promise<string> {
    const ns = `vdc-${org}-${name}`;
    await waitFor(`VDC ${name} Active`, async () => (await api.get<VirtualDataCenter>(vdcPath(org, name))).status?.phase === 'Active');
    await waitFor(`the default ServiceAccount of ${ns}`, () => api.get(`/api/v1/namespaces/${ns}/serviceaccounts/default`));
    return ns;
  }

  before(async function () {
    this.timeout(180_000);
    cp = await controlPlane();
    await installCrds(cp.kubeConfig);
    api = await KubeClient.create(cp.kubeConfig);
    op = await startOperator(
      cp.kubeConfig,
      { ...DEFAULT_CONFIG, resyncPeriodMs: 0, privilegedOrganizations: [LAB] },
      createLogger('error', true),
    );
    for (const org of [ORG, LAB]) {
      await api.create('/apis/ovim.io/v1/organizations', {
        apiVersion: 'ovim.io/v1',
        kind: 'Organization',
        metadata: { name: org },
        spec: { displayName: org, admins: [`${org}-admins`] },
      });
    }
    await waitFor('the organization namespaces', async () =>
      Boolean((await api.get(`/api/v1/namespaces/org-${ORG}`)) && (await api.get(`/api/v1/namespaces/org-${LAB}`))),
    );
    await createVdc(ORG, 'dev');
    await vdcReady(ORG, 'dev');
    // The tenant's RoleBinding reaches the authorizer's cache a moment after it is created.
    await waitFor('the tenant to be bound to ovim:vdc-admin', async () => {
      const res = await kubectl(cp.kubeconfigPath, [...TENANT, '-n', NS, 'auth', 'can-i', 'create', 'pods']);
      return res.stdout.trim() === 'yes';
    });
  });

  after(async function () {
    this.timeout(60_000);
    await op?.stop();
    api?.close();
  });

  describe('Pod Security', () => {
    it('labels the VDC namespace: enforce baseline, warn and audit restricted, OpenShift label sync off', async () => {
      expect(await nsLabels(NS)).to.include({
        'pod-security.kubernetes.io/enforce': 'baseline',
        'pod-security.kubernetes.io/warn': 'restricted',
        'pod-security.kubernetes.io/audit': 'restricted',
        'security.openshift.io/scc.podSecurityLabelSync': 'false',
      });
    });

    it('refuses a privileged pod with Pod Security\'s message', async () => {
      const res = await tenantCreate(pod('priv', {}, { securityContext: { privileged: true } }));
      expect(res.code).to.not.equal(0);
      expect(res.stderr).to.match(POD_SECURITY_DENIAL);
      expect(res.stderr).to.match(/privileged \(container "app" must not set securityContext\.privileged=true\)/);
    });

    it('refuses a hostPath volume of / with Pod Security\'s message', async () => {
      const res = await tenantCreate(
        pod('hostpath', { volumes: [{ name: 'root', hostPath: { path: '/' } }] }, { volumeMounts: [{ name: 'root', mountPath: '/host' }] }),
      );
      expect(res.code).to.not.equal(0);
      expect(res.stderr).to.match(POD_SECURITY_DENIAL);
      expect(res.stderr).to.match(/hostPath volumes \(volume "root"\)/);
    });

    it('refuses hostNetwork and hostPID with Pod Security\'s message', async () => {
      const res = await tenantCreate(pod('hostns', { hostNetwork: true, hostPID: true }));
      expect(res.code).to.not.equal(0);
      expect(res.stderr).to.match(POD_SECURITY_DENIAL);
      expect(res.stderr).to.match(/host namespaces \(hostNetwork=true, hostPID=true\)/);
    });

    it('admits a baseline pod, warning what restricted would refuse', async () => {
      const res = await tenantCreate(pod('plain'));
      expect(res.code, res.stderr).to.equal(0);
      expect(res.stdout).to.match(/pod\/plain created \(server dry run\)/);
      expect(res.stderr).to.match(/would violate PodSecurity "restricted:latest"/);
    });

    it('a VDC that opts into restricted refuses the baseline pod', async () => {
      await createVdc(ORG, 'strict', { podSecurity: 'restricted' });
      const ns = await vdcReady(ORG, 'strict');
      expect((await nsLabels(ns))['pod-security.kubernetes.io/enforce']).to.equal('restricted');
      const res = await tenantCreate(pod('plain'), ns);
      expect(res.code).to.not.equal(0);
      expect(res.stderr).to.match(/violates PodSecurity "restricted:latest"/);
    });

    it('privileged is honoured only for an organization the operator flag names', async () => {
      await createVdc(ORG, 'wants-priv', { podSecurity: 'privileged' });
      await createVdc(LAB, 'gpu', { podSecurity: 'privileged' });
      const denied = await vdcReady(ORG, 'wants-priv');
      const allowed = await vdcReady(LAB, 'gpu');
      expect((await nsLabels(denied))['pod-security.kubernetes.io/enforce']).to.equal('baseline');
      expect((await nsLabels(allowed))['pod-security.kubernetes.io/enforce']).to.equal('privileged');
      const privileged = pod('priv', { hostNetwork: true }, { securityContext: { privileged: true } });
      const refused = await tenantCreate(privileged, denied);
      expect(refused.stderr).to.match(POD_SECURITY_DENIAL);
      const lab = ['--as', `bob-${sfx}`, '--as-group', `${LAB}-admins`];
      await waitFor('the lab tenant to be bound', async () =>
        (await kubectl(cp.kubeconfigPath, [...lab, '-n', allowed, 'auth', 'can-i', 'create', 'pods'])).stdout.trim() === 'yes',
      );
      const admitted = await tenantCreate(privileged, allowed, lab);
      expect(admitted.code, admitted.stderr).to.equal(0);
    });
  });

  describe('Services', () => {
    const denial = (what: RegExp) => async (manifest: string) => {
      const res = await tenantCreate(manifest);
      return res.code !== 0 && what.test(res.stderr) ? res : false;
    };

    before(async () => {
      // The policy loads into the API server's admission shortly after the harness stores it.
      await waitFor('the Service exposure policy to be in force', () =>
        denial(/ValidatingAdmissionPolicy 'ovim-vdc-service-exposure'/)(service('probe', { type: 'NodePort' })),
      );
    });

    it('admits a ClusterIP Service', async () => {
      const res = await tenantCreate(service('web', {}));
      expect(res.code, res.stderr).to.equal(0);
    });

    it('refuses NodePort, LoadBalancer and externalIPs Services, saying which VDC field allows them', async () => {
      const nodePort = await tenantCreate(service('np', { type: 'NodePort' }));
      expect(nodePort.code).to.not.equal(0);
      expect(nodePort.stderr).to.match(/Services of type NodePort are not allowed in this VDC's namespace; .*spec\.serviceExposure\.nodePort/);
      const lb = await tenantCreate(service('lb', { type: 'LoadBalancer' }));
      expect(lb.code).to.not.equal(0);
      expect(lb.stderr).to.match(/Services of type LoadBalancer are not allowed/);
      const external = await tenantCreate(service('ext', { externalIPs: ['8.8.8.8'] }));
      expect(external.code).to.not.equal(0);
      expect(external.stderr).to.match(/spec\.externalIPs is not allowed in this VDC's namespace/);
    });

    it('refuses turning an existing ClusterIP Service into a NodePort', async () => {
      const created = await kubectl(cp.kubeconfigPath, [...TENANT, '-n', NS, 'create', '-f', '-'], service('grow', {}));
      expect(created.code, created.stderr).to.equal(0);
      const res = await kubectl(cp.kubeconfigPath, [...TENANT, '-n', NS, 'patch', 'service', 'grow', '-p', '{"spec":{"type":"NodePort"}}']);
      expect(res.code).to.not.equal(0);
      expect(res.stderr).to.match(/Services of type NodePort are not allowed/);
    });

    it('a tenant cannot grant itself the allowance on its namespace', async () => {
      const res = await kubectl(cp.kubeconfigPath, [...TENANT, 'label', 'namespace', NS, 'ovim.io/allow-nodeport-services=true', '--overwrite']);
      expect(res.code).to.not.equal(0);
      expect(res.stderr).to.match(/forbidden/);
      const endpoints = await kubectl(cp.kubeconfigPath, [...TENANT, '-n', NS, 'auth', 'can-i', 'create', 'endpoints']);
      expect(endpoints.stdout.trim(), 'hand-written Endpoints (CVE-2021-25740)').to.equal('no');
    });

    it('admits what the VDC allows, and only that', async () => {
      await api.patch(vdcPath(ORG, 'dev'), { spec: { serviceExposure: { nodePort: true, externalIPs: true } } }, 'merge');
      await waitFor('the namespace to carry the allowance', async () => (await nsLabels(NS))['ovim.io/allow-nodeport-services'] === 'true');
      const nodePort = await tenantCreate(service('np', { type: 'NodePort' }));
      expect(nodePort.code, nodePort.stderr).to.equal(0);
      const external = await tenantCreate(service('ext', { externalIPs: ['192.0.2.10'] }));
      expect(external.code, external.stderr).to.equal(0);
      const lb = await tenantCreate(service('lb', { type: 'LoadBalancer' }));
      expect(lb.code).to.not.equal(0);
      expect(lb.stderr).to.match(/Services of type LoadBalancer are not allowed/);
    });

    it('withdrawing the allowance refuses new NodePorts again', async () => {
      await api.patch(vdcPath(ORG, 'dev'), { spec: { serviceExposure: null } }, 'merge');
      await waitFor('the namespace to lose the allowance', async () => (await nsLabels(NS))['ovim.io/allow-nodeport-services'] === 'false');
      const nodePort = await tenantCreate(service('np', { type: 'NodePort' }));
      expect(nodePort.code).to.not.equal(0);
      expect(nodePort.stderr).to.match(/Services of type NodePort are not allowed/);
    });
  });
});
