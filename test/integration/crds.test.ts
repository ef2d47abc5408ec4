// The CRDs against a real kube-apiserver: install, samples, defaults, validation messages,
// kubectl output.
import { readFileSync } from 'node:fs';
import { expect } from 'chai';
import { parse } from 'yaml';
import {
  ApiextensionsV1Api,
  CoreV1Api,
  CustomObjectsApi,
  type KubeConfig,
} from '@kubernetes/client-node';
import { installCrds } from '../../src/kube/crds.js';
import { apiErrorMessage, apiStatusCode } from '../../src/kube/errors.js';
import {
  OVIM_GROUP,
  OVIM_VERSION,
  ORGANIZATION_PLURAL,
  VDC_PLURAL,
  type Organization,
  type VirtualDataCenter,
} from '../../src/resources/types.js';
import { controlPlane } from '../support/hooks.js';
import { kubectl, kubectlOk } from '../support/kubectl.js';
import type { ControlPlane } from '../support/controlplane.js';

const ns = 'org-crdtest';

function org(name: string, spec: Record<string, unknown>): Record<string, unknown> {
  return { apiVersion: 'ovim.io/v1', kind: 'Organization', metadata: { name }, spec };
}

function vdc(name: string, spec: Record<string, unknown>): Record<string, unknown> {
  return { apiVersion: 'ovim.io/v1', kind: 'VirtualDataCenter', metadata: { name, namespace: ns }, spec };
}

const validOrgSpec = { displayName: 'Valid', admins: ['valid-admins'] };
const validQuota = { cpu: '4', memory: '8Gi', storage: '100Gi' };
const validVdcSpec = { organizationRef: 'crdtest', displayName: 'Valid', quota: validQuota };

interface InvalidCase {
  what: string;
  object: Record<string, unknown>;
  /** What a person reads in the API server's answer. */
  message: RegExp;
}

const long = (n: number) => 'x'.repeat(n);

const invalidCases: InvalidCase[] = [
  { what: 'organization without displayName', object: org('bad-1', { admins: ['a1'] }),
    message: /spec\.displayName: Required value/ },
  { what: 'organization with empty displayName', object: org('bad-2', { ...validOrgSpec, displayName: '' }),
    message: /spec\.displayName.*should be at least 1 chars long/ },
  { what: 'organization displayName over 255', object: org('bad-3', { ...validOrgSpec, displayName: long(256) }),
    message: /spec\.displayName: Too long: may not be (longer|more) than 255/ },
  { what: 'organization description over 1000', object: org('bad-4', { ...validOrgSpec, description: long(1001) }),
    message: /spec\.description: Too long: may not be (longer|more) than 1000/ },
  { what: 'organization without admins', object: org('bad-5', { displayName: 'No admins' }),
    message: /spec\.admins: Required value/ },
  { what: 'organization with an empty admins list', object: org('bad-6', { ...validOrgSpec, admins: [] }),
    message: /spec\.admins.*should have at least 1 items/ },
  { what: 'organization admin group with a bad character', object: org('bad-7', { ...validOrgSpec, admins: ['team admins'] }),
    message: /spec\.admins\[0\].*should match '\^\[a-zA-Z0-9\]/ },
  { what: 'organization admin group starting with a dash', object: org('bad-8', { ...validOrgSpec, admins: ['-admins'] }),
    message: /spec\.admins\[0\]: Invalid value: "-admins"/ },
  { what: 'organization with a duplicate admin group', object: org('bad-9', { ...validOrgSpec, admins: ['ops', 'ops'] }),
    message: /spec\.admins\[1\]: Duplicate value: "ops"/ },
  // Regression (issue 10): `system:authenticated` as an admin group handed the organization to everyone.
  { what: 'organization admin group system:authenticated', object: org('bad-9a', { ...validOrgSpec, admins: ['ops', 'system:authenticated'] }),
    message: /spec\.admins\[1\]: Invalid value: "string": must not be a Kubernetes system: group/ },
  { what: 'organization admin group system:masters', object: org('bad-9b', { ...validOrgSpec, admins: ['system:masters'] }),
    message: /spec\.admins\[0\].*must not be a Kubernetes system: group/ },
  { what: 'organization isEnabled not a boolean', object: org('bad-10', { ...validOrgSpec, isEnabled: 'yes' }),
    message: /spec\.isEnabled: Invalid value: "string": spec\.isEnabled in body must be of type boolean/ },
  { what: 'organization quota cpu with a fraction', object: org('bad-11', { ...validOrgSpec, quota: { cpu: '2.5' } }),
    message: /spec\.quota\.cpu: Invalid value: "2\.5".*should match '\^\[0-9\]\+\$'/ },
  { what: 'organization quota memory not in Gi', object: org('bad-12', { ...validOrgSpec, quota: { memory: '64G' } }),
    message: /spec\.quota\.memory: Invalid value: "64G"/ },
  { what: 'organization quota storage in Pi', object: org('bad-13', { ...validOrgSpec, quota: { storage: '1Pi' } }),
    message: /spec\.quota\.storage: Invalid value: "1Pi".*\(Gi\|Ti\)/ },
  { what: 'organization quota pods zero', object: org('bad-14', { ...validOrgSpec, quota: { pods: 0 } }),
    message: /spec\.quota\.pods.*should be greater than or equal to 1/ },
  { what: 'organization quota virtualMachines negative', object: org('bad-15', { ...validOrgSpec, quota: { virtualMachines: -1 } }),
    message: /spec\.quota\.virtualMachines.*should be greater than or equal to 0/ },
  { what: 'organization name with a dot', object: org('acme.corp', validOrgSpec),
    message: /metadata\.name must be a DNS label/ },
  { what: 'organization name over 59 characters', object: org(`o${'a'.repeat(59)}`, validOrgSpec),
    message: /metadata\.name must be at most 59 characters/ },
  { what: 'organization without spec', object: { apiVersion: 'ovim.io/v1', kind: 'Organization', metadata: { name: 'bad-18' } },
    message: /spec: Required value/ },
  { what: 'VDC without organizationRef', object: vdc('bad-19', { displayName: 'x', quota: validQuota }),
    message: /spec\.organizationRef: Required value/ },
  { what: 'VDC organizationRef not a DNS label', object: vdc('bad-20', { ...validVdcSpec, organizationRef: 'Acme_Corp' }),
    message: /spec\.organizationRef: Invalid value: "Acme_Corp"/ },
  { what: 'VDC without quota', object: vdc('bad-21', { organizationRef: 'crdtest', displayName: 'x' }),
    message: /spec\.quota: Required value/ },
  { what: 'VDC quota without cpu', object: vdc('bad-22', { ...validVdcSpec, quota: { memory: '1Gi', storage: '1Gi' } }),
    message: /spec\.quota\.cpu: Required value/ },
  { what: 'VDC quota memory in Ti', object: vdc('bad-23', { ...validVdcSpec, quota: { ...validQuota, memory: '1Ti' } }),
    message: /spec\.quota\.memory: Invalid value: "1Ti".*Gi\$/ },
  { what: 'VDC quota cpu in millicores', object: vdc('bad-24', { ...validVdcSpec, quota: { ...validQuota, cpu: '500m' } }),
    message: /spec\.quota\.cpu: Invalid value: "500m"/ },
  { what: 'VDC quota pods zero', object: vdc('bad-25', { ...validVdcSpec, quota: { ...validQuota, pods: 0 } }),
    message: /spec\.quota\.pods.*should be greater than or equal to 1/ },
  { what: 'VDC quota virtualMachines negative', object: vdc('bad-26', { ...validVdcSpec, quota: { ...validQuota, virtualMachines: -5 } }),
    message: /spec\.quota\.virtualMachines.*should be greater than or equal to 0/ },
  { what: 'VDC limitRange minCpu above maxCpu', object: vdc('bad-27', { ...validVdcSpec, limitRange: { minCpu: 2000, maxCpu: 1000 } }),
    message: /limitRange\.minCpu must be less than or equal to limitRange\.maxCpu/ },
  { what: 'VDC limitRange minMemory above maxMemory', object: vdc('bad-28', { ...validVdcSpec, limitRange: { minMemory: 512, maxMemory: 256 } }),
    message: /limitRange\.minMemory must be less than or equal to limitRange\.maxMemory/ },
  { what: 'VDC limitRange minCpu zero', object: vdc('bad-29', { ...validVdcSpec, limitRange: { minCpu: 0 } }),
    message: /spec\.limitRange\.minCpu.*should be greater than or equal to 1/ },
  { what: 'VDC unknown networkPolicy', object: vdc('bad-30', { ...validVdcSpec, networkPolicy: 'open' }),
    message: /spec\.networkPolicy: Unsupported value: "open": supported values: "default", "isolated", "custom"/ },
  { what: 'VDC unknown podSecurity', object: vdc('bad-60', { ...validVdcSpec, podSecurity: 'none' }),
    message: /spec\.podSecurity: Unsupported value: "none": supported values: "baseline", "restricted", "privileged"/ },
  { what: 'VDC serviceExposure not a boolean', object: vdc('bad-61', { ...validVdcSpec, serviceExposure: { nodePort: 'yes' } }),
    message: /spec\.serviceExposure\.nodePort: Invalid value: "string": spec\.serviceExposure\.nodePort in body must be of type boolean/ },
  { what: 'VDC displayName over 255', object: vdc('bad-31', { ...validVdcSpec, displayName: long(256) }),
    message: /spec\.displayName: Too long: may not be (longer|more) than 255/ },
  { what: 'VDC name with a dot', object: vdc('dev.one', validVdcSpec),
    message: /metadata\.name must be a DNS label/ },
];

describe('CRDs on a real kube-apiserver', function () {
  let cp: ControlPlane;
  let kc: KubeConfig;
  let custom: CustomObjectsApi;

  before(async function () {
    this.timeout(180_000);
    cp = await controlPlane();
    kc = cp.kubeConfig;
    await installCrds(kc);
    custom = kc.makeApiClient(CustomObjectsApi);
    await kc.makeApiClient(CoreV1Api).createNamespace({ body: { metadata: { name: ns } } });
  });

  async function create(object: Record<string, unknown>): Promise<Record<string, unknown>> {
    const meta = object.metadata as { namespace?: string };
    const plural = object.kind === 'Organization' ? ORGANIZATION_PLURAL : VDC_PLURAL;
    return meta.namespace
      ? custom.createNamespacedCustomObject({ group: OVIM_GROUP, version: OVIM_VERSION, plural, namespace: meta.namespace, body: object })
      : custom.createClusterCustomObject({ group: OVIM_GROUP, version: OVIM_VERSION, plural, body: object });
  }

  it('installs both CRDs and they become Established', async function () {
    const api = kc.makeApiClient(ApiextensionsV1Api);
    for (const name of ['organizations.ovim.io', 'virtualdatacenters.ovim.io']) {
      const crd = await api.readCustomResourceDefinition({ name });
      const established = crd.status?.conditions?.find((c) => c.type === 'Established');
      expect(established?.status, name).to.equal('True');
      expect(crd.spec.names.categories).to.deep.equal(['ovim']);
    }
  });

  it('installing again is an idempotent update', async function () {
    expect(await installCrds(kc)).to.deep.equal(['eventroutes.ovim.io', 'organizations.ovim.io', 'virtualdatacenters.ovim.io']);
  });

  it('accepts the samples through client-node', async function () {
    const sampleOrg = parse(readFileSync('config/samples/ovim_v1_organization.yaml', 'utf8')) as Organization;
    const sampleVdc = parse(readFileSync('config/samples/ovim_v1_virtualdatacenter.yaml', 'utf8')) as VirtualDataCenter;
    sampleOrg.metadata.name = 'sample-client-node';
    sampleVdc.metadata.namespace = ns;
    sampleVdc.spec.organizationRef = 'crdtest';
    const createdOrg = (await create(sampleOrg as unknown as Record<string, unknown>)) as unknown as Organization;
    const createdVdc = (await create(sampleVdc as unknown as Record<string, unknown>)) as unknown as VirtualDataCenter;
    expect(createdOrg.spec.displayName).to.equal('ACME Corporation');
    expect(createdVdc.spec.quota.cpu).to.equal('16');
  });

  it('accepts the samples in one shot through kubectl apply --server-side -k config/samples', async function () {
    // No namespace made beforehand: the samples carry org-acme, so the VDC does not race it.
    const out = await kubectlOk(cp.kubeconfigPath, ['apply', '--server-side', '-k', 'config/samples']);
    expect(out).to.match(/namespace\/org-acme serverside-applied/);
    expect(out).to.match(/eventroute\.ovim\.io\/quota-to-slack serverside-applied/);
    expect(out).to.match(/organization\.ovim\.io\/acme serverside-applied/);
    expect(out).to.match(/virtualdatacenter\.ovim\.io\/dev serverside-applied/);
  });

  it('applies the schema defaults (isEnabled, pods, virtualMachines, networkPolicy)', async function () {
    const createdOrg = (await create(org('defaults', validOrgSpec))) as unknown as Organization;
    expect(createdOrg.spec.isEnabled).to.equal(true);
    const createdVdc = (await create(vdc('defaults', validVdcSpec))) as unknown as VirtualDataCenter;
    expect(createdVdc.spec.quota.pods).to.equal(100);
    expect(createdVdc.spec.quota.virtualMachines).to.equal(50);
    expect(createdVdc.spec.networkPolicy).to.equal('default');
  });

  describe(`rejects ${invalidCases.length} invalid objects with a readable message`, function () {
    for (const c of invalidCases) {
      it(`rejects ${c.what}`, async function () {
        let error: unknown;
        try {
          await create(c.object);
        } catch (err) {
          error = err;
        }
        expect(error, 'the API server accepted the object').to.not.equal(undefined);
        expect(apiStatusCode(error)).to.equal(422);
        expect(apiErrorMessage(error)).to.match(c.message);
      });
    }
  });

  it('keeps organizationRef immutable', async function () {
    await create(vdc('immutable', validVdcSpec));
    const res = await kubectl(cp.kubeconfigPath, [
      'patch', 'vdc', 'immutable', '-n', ns, '--type=merge', '-p', '{"spec":{"organizationRef":"other"}}',
    ]);
    expect(res.code).to.not.equal(0);
    expect(res.stderr).to.contain('organizationRef is immutable');
  });

  it('kubectl get org prints the printer columns', async function () {
    const out = await kubectlOk(cp.kubeconfigPath, ['get', 'org']);
    expect(out.split('\n')[0]).to.match(/^NAME\s+DISPLAY NAME\s+PHASE\s+READY\s+VDCS\s+NAMESPACE\s+AGE$/);
    expect(out).to.match(/\nacme\s+ACME Corporation\s+/);
  });

  it('kubectl get vdc -A prints the printer columns', async function () {
    const out = await kubectlOk(cp.kubeconfigPath, ['get', 'vdc', '-A']);
    expect(out.split('\n')[0]).to.match(
      /^NAMESPACE\s+NAME\s+ORGANIZATION\s+DISPLAY NAME\s+PHASE\s+READY\s+CPU %\s+MEMORY %\s+STORAGE %\s+NAMESPACE\s+AGE$/,
    );
    expect(out).to.match(/\norg-acme\s+dev\s+acme\s+Development\s+/);
  });

  it('kubectl get -o wide adds the Ready condition\'s message (priority 1)', async function () {
    for (const args of [['get', 'org', '-o', 'wide'], ['get', 'vdc', '-A', '-o', 'wide']]) {
      const header = (await kubectlOk(cp.kubeconfigPath, args)).split('\n')[0] ?? '';
      expect(header, args.join(' ')).to.match(/\sREADY\s.*\sAGE\s+MESSAGE$/);
    }
    const narrow = (await kubectlOk(cp.kubeconfigPath, ['get', 'vdc', '-A'])).split('\n')[0];
    expect(narrow).to.not.contain('MESSAGE');
  });

  it('kubectl explain vdc.status.resourceUsage reads well', async function () {
    const out = await kubectlOk(cp.kubeconfigPath, ['explain', 'vdc.status.resourceUsage']);
    expect(out).to.contain("What the VDC's workloads use of its quota");
    expect(out).to.match(/storagePercentage\s+<integer>\s+storageUsed in percent of spec\.quota\.storage/);
  });

  it('kubectl get ovim lists both kinds through the category', async function () {
    const out = await kubectlOk(cp.kubeconfigPath, ['get', 'ovim', '-A']);
    expect(out).to.contain('organization.ovim.io/acme');
    expect(out).to.contain('virtualdatacenter.ovim.io/dev');
  });

  it('kubectl explain vdc.spec.quota documents the fields', async function () {
    const out = await kubectlOk(cp.kubeconfigPath, ['explain', 'vdc.spec.quota']);
    expect(out).to.contain('KIND:       VirtualDataCenter');
    expect(out).to.match(/cpu\s+<string> -required-/);
    expect(out).to.contain('CPU cores, a whole number.');
    expect(out).to.match(/pods\s+<integer>/);
  });
});
