// The webhook's HTTPS front: AdmissionReview in, AdmissionReview out; bad input is a 4xx JSON
// error, never a crash. And the configurations as rendered for a deployment.
import { request as httpsRequest } from 'node:https';
import { expect } from 'chai';
import { createCa, issueServing } from '../../../src/admission/certs.js';
import { renderConfigurations, webhookManifests } from '../../../src/admission/configurations.js';
import { AdmissionServer, MAX_REVIEW_BYTES } from '../../../src/admission/server.js';
import type { KubeClient } from '../../../src/kube/rest.js';
import type { EventRecording } from '../../../src/events/types.js';

describe('admission server', function () {
  let server: AdmissionServer;
  let port: number;
  let ca: string;
  const recorded: string[] = [];
  const patched: string[] = [];

  before(async function () {
    const authority = await createCa(new Date(), 3_600_000);
    ca = authority.certPem;
    const tls = await issueServing(authority, { dnsNames: [], ips: ['127.0.0.1'] }, new Date(), 3_600_000);
    const events: EventRecording = { record: (_o, _t, reason) => void recorded.push(reason) };
    server = new AdmissionServer({
      tls,
      context: () => ({ key: Buffer.alloc(32, 1), trusted: new Set(), now: new Date() }),
      // Only patch() is called (the deleter's stamp on a DELETE): it notes where.
      client: { patch: (path: string) => Promise.resolve(void patched.push(path)) } as unknown as KubeClient,
      events,
    });
    port = await server.listen(0, '127.0.0.1');
  });

  after(() => server.close());

  const call = (method: string, path: string, body?: string) =>
    new Promise<{ status: number; json: Record<string, unknown> }>((resolve, reject) => {
      const req = httpsRequest({ host: '127.0.0.1', port, method, path, ca, headers: { 'Content-Type': 'application/json' } }, (res) => {
        let text = '';
        res.on('data', (c: Buffer) => (text += c.toString()));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, json: JSON.parse(text) as Record<string, unknown> }));
      });
      req.on('error', reject);
      req.end(body);
    });

  it('keeps idle connections open longer than the API server does (90 s), so that it never writes into a closed one', function () {
    expect(server.server.keepAliveTimeout).to.be.above(90_000);
  });

  it('answers a CREATE with a JSON patch of the stamps and the finalizer', async function () {
    const review = {
      apiVersion: 'admission.k8s.io/v1',
      kind: 'AdmissionReview',
      request: {
        uid: 'abc',
        operation: 'CREATE',
        userInfo: { username: 'alice' },
        object: { apiVersion: 'ovim.io/v1', kind: 'Organization', metadata: { name: 'acme', annotations: { 'ovim.io/requested-by': 'mallory' } } },
      },
    };
    const res = await call('POST', '/mutate', JSON.stringify(review));
    expect(res.status).to.equal(200);
    const response = res.json.response as { uid: string; allowed: boolean; patchType: string; patch: string };
    expect(response).to.include({ uid: 'abc', allowed: true, patchType: 'JSONPatch' });
    const patch = JSON.parse(Buffer.from(response.patch, 'base64').toString()) as { path: string; value: Record<string, string> }[];
    expect(patch[0]?.value['ovim.io/requested-by']).to.equal('alice');
    expect(patch[1]).to.deep.equal({ op: 'add', path: '/metadata/finalizers', value: ['ovim.io/organization-cleanup'] });
  });

  it('a dry-run DELETE is allowed with no side effect', async function () {
    const review = { request: { uid: 'd', operation: 'DELETE', dryRun: true, userInfo: { username: 'erin' }, oldObject: { apiVersion: 'ovim.io/v1', kind: 'Organization', metadata: { name: 'acme' } } } };
    const res = await call('POST', '/validate', JSON.stringify(review));
    expect(res.json.response).to.deep.equal({ uid: 'd', allowed: true });
    expect(recorded).to.deep.equal([]);
  });

  it("a VirtualMachine's DELETE: the deleter's stamp at the path the request names, no DeletionRequested", async function () {
    const review = {
      request: {
        uid: 'v',
        operation: 'DELETE',
        resource: { group: 'kubevirt.io', version: 'v1', resource: 'virtualmachines' },
        userInfo: { username: 'fay' },
        oldObject: { apiVersion: 'kubevirt.io/v1', kind: 'VirtualMachine', metadata: { name: 'vm1', namespace: 'vdc-acme-dev', uid: 'u1' } },
      },
    };
    const res = await call('POST', '/validate', JSON.stringify(review));
    expect(res.json.response).to.deep.equal({ uid: 'v', allowed: true });
    expect(patched).to.deep.equal(['/apis/kubevirt.io/v1/namespaces/vdc-acme-dev/virtualmachines/vm1']);
    expect(recorded).to.deep.equal([]);
  });

  it('bad input is a 4xx JSON error', async function () {
    expect((await call('POST', '/mutate', 'not json')).status).to.equal(400);
    expect((await call('POST', '/mutate', '{"request":{}}')).status).to.equal(400);
    expect((await call('POST', '/mutate', 'null')).status).to.equal(400);
    expect((await call('GET', '/mutate')).status).to.equal(405);
    expect((await call('POST', '/elsewhere', '{}')).status).to.equal(404);
    const big = await call('POST', '/mutate', 'x'.repeat(MAX_REVIEW_BYTES + 1));
    expect(big.status).to.equal(413);
    expect(big.json.error).to.match(/larger than/);
    expect((await call('GET', '/healthz')).json).to.deep.equal({ status: 'ok' });
  });
});

describe('webhook configurations', function () {
  const manifests = webhookManifests();

  it('point at the loopback URL with the caBundle, and leave out VirtualMachines without KubeVirt', function () {
    const [mutating, validating] = renderConfigurations(manifests, { url: 'https://127.0.0.1:9443' }, 'PEM', false);
    expect(mutating?.webhooks.map((w) => w.name)).to.deep.equal(['stamp.ovim.io']);
    expect(validating?.webhooks.map((w) => w.name)).to.deep.equal(['deletion.ovim.io']);
    expect(mutating?.webhooks[0]?.clientConfig).to.deep.equal({ url: 'https://127.0.0.1:9443/mutate', caBundle: Buffer.from('PEM').toString('base64') });
    expect(validating?.webhooks[0]?.clientConfig.url).to.equal('https://127.0.0.1:9443/validate');
    expect(validating?.webhooks[0]).to.include({ failurePolicy: 'Ignore', sideEffects: 'NoneOnDryRun' });
    expect(mutating?.webhooks[0]).to.include({ failurePolicy: 'Fail', sideEffects: 'None' });
  });

  it('point at the Service in the operator namespace, with the VirtualMachine webhook where KubeVirt is installed', function () {
    const [mutating, validating] = renderConfigurations(manifests, { service: { name: 'hook', namespace: 'ops' } }, 'PEM', true);
    expect(mutating?.webhooks.map((w) => w.name)).to.deep.equal(['stamp.ovim.io', 'stamp-vm.ovim.io']);
    // A VM's deleter: DELETE in VDC namespaces, Ignore like the other deletion webhook.
    expect(validating?.webhooks.map((w) => w.name)).to.deep.equal(['deletion.ovim.io', 'deletion-vm.ovim.io']);
    expect(validating?.webhooks[1]).to.deep.include({
      failurePolicy: 'Ignore',
      sideEffects: 'NoneOnDryRun',
      namespaceSelector: { matchExpressions: [{ key: 'ovim.io/vdc', operator: 'Exists' }] },
      rules: [{ operations: ['DELETE'], apiGroups: ['kubevirt.io'], apiVersions: ['*'], resources: ['virtualmachines'] }],
    });
    expect(mutating?.webhooks[1]?.clientConfig.service).to.deep.equal({ name: 'hook', namespace: 'ops', path: '/mutate', port: 443 });
    expect(mutating?.webhooks[1]?.namespaceSelector).to.deep.equal({ matchExpressions: [{ key: 'ovim.io/vdc', operator: 'Exists' }] });
  });
});
