// The built program run the way a Pod runs it: in-cluster configuration from
// KUBERNETES_SERVICE_HOST/PORT and the ServiceAccount's files (a token from the TokenRequest API
// for ovim-system/ovim-operator and the cluster's CA, laid out under a temporary folder given as
// OVIM_SERVICE_ACCOUNT_ROOT), with RBAC only from config/rbac, and two replicas with the flags
// of the ha overlay and PostgreSQL. One leads and reconciles, the other serves the API and the
// admission webhook; after kill -9 of the leader the other takes the Lease and reconciles, and no
// Created event repeats. The webhook's Service is played by a TCP gate (no kube-proxy here)
// that the test points at the follower; its configurations are cluster-wide, so the suite
// removes them when it ends.
import { randomBytes } from 'node:crypto';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { expect } from 'chai';
import { signToken } from '../../src/http/auth.js';
import { installCrds } from '../../src/kube/crds.js';
import { KubeClient } from '../../src/kube/rest.js';
import type { Organization } from '../../src/resources/types.js';
import type { ControlPlane } from '../support/controlplane.js';
import { freePort } from '../support/controlplane.js';
import { ApiGate } from '../support/gate.js';
import { controlPlane } from '../support/hooks.js';
import { makeBuild } from '../support/image-layout.js';
import { kubectl, kubectlOk } from '../support/kubectl.js';
import { kustomize, one } from '../support/kustomize.js';
import { testPostgres, type TestPostgres } from '../support/postgres.js';
import { httpGet, listenerEnv, processGroupMembers, repoRoot, sample, spawnProgram, type Program } from '../support/program.js';
import { waitFor } from '../support/wait.js';

const sfx = randomBytes(2).toString('hex');
const SECRET = `in-cluster-${sfx}-a-secret-of-32-bytes-or-more`;
const LEASE = '/apis/coordination.k8s.io/v1/namespaces/ovim-system/leases/ovim-operator';
const LEASE_MS = 15_000;
const RETRY_MS = 2_000;

interface Lease {
  spec?: { holderIdentity?: string; acquireTime?: string; renewTime?: string; leaseDurationSeconds?: number };
}

interface Replica {
  name: string;
  program: Program;
  urls: Awaited<ReturnType<typeof listenerEnv>>;
  webhookPort: number;
}

describe('in-cluster: two replicas of the built program with leader election and PostgreSQL', function () {
  this.timeout(240_000);
  let cp: ControlPlane;
  let admin: KubeClient;
  let pg: TestPostgres;
  let databaseUrl: string;
  let dir: string;
  let service: ApiGate | undefined;
  const replicas: Replica[] = [];

  before(async function () {
    this.timeout(30 * 60_000);
    cp = await controlPlane();
    await installCrds(cp.kubeConfig);
    admin = await KubeClient.create(cp.kubeConfig);
    const made = await kubectl(cp.kubeconfigPath, ['create', 'namespace', 'ovim-system']);
    if (made.code !== 0 && !/AlreadyExists/.test(made.stderr)) throw new Error(made.stderr);
    // RBAC only from config/rbac (the tenant roles in it are already installed by the harness).
    await kubectlOk(cp.kubeconfigPath, ['apply', '--server-side', '--force-conflicts', '-k', `${repoRoot}/config/rbac`]);
    // The webhook's own RBAC (its Secrets, its configurations) ships beside it in config/webhook.
    await kubectlOk(cp.kubeconfigPath, ['apply', '--server-side', '--force-conflicts', '-f', `${repoRoot}/config/webhook/rbac.yaml`]);
    const [, postgres] = await Promise.all([makeBuild(), testPostgres()]);
    pg = postgres;
    const db = `in_cluster_${sfx}`;
    await pg.createDatabase(db);
    databaseUrl = pg.urlOf(db);
    // The Pod's files: a TokenRequest token, the CA, the namespace.
    dir = mkdtempSync(join(tmpdir(), 'ovim-in-cluster-'));
    const sa = join(dir, 'var/run/secrets/kubernetes.io/serviceaccount');
    mkdirSync(sa, { recursive: true });
    const token = (await kubectlOk(cp.kubeconfigPath, ['-n', 'ovim-system', 'create', 'token', 'ovim-operator', '--duration=1h'])).trim();
    writeFileSync(join(sa, 'token'), token, { mode: 0o600 });
    writeFileSync(join(sa, 'ca.crt'), Buffer.from(cp.kubeConfig.getCurrentCluster()?.caData ?? '', 'base64'));
    writeFileSync(join(sa, 'namespace'), 'ovim-system');
    // The ha overlay's flags on free loopback ports; the API server reaches the webhooks through
    // the gate (the Service's stand-in), which starts out pointing at the first replica.
    const args = (container(one(kustomize('config/ha'), 'Deployment', 'ovim-operator')).args as string[])
      .filter((a) => !/^--(api|health-probe|metrics)-bind-address=|^--webhook-port=/.test(a));
    expect(args).to.include('--leader-elect');
    expect(container(one(kustomize('config/ha'), 'Deployment', 'ovim-operator')).args).to.include('--webhook-port=9443');
    const server = new URL(cp.apiServerUrl);
    const webhookPorts = [await freePort(), await freePort()];
    service = await ApiGate.start(`https://127.0.0.1:${webhookPorts[0] as number}`);
    for (const [i, name] of [`ovim-a-${sfx}`, `ovim-b-${sfx}`].entries()) {
      const urls = await listenerEnv();
      const webhookPort = webhookPorts[i] as number;
      const webhook = [`--webhook-port=${webhookPort}`, '--webhook-host=127.0.0.1', `--webhook-url=https://127.0.0.1:${service.port}`];
      const program = spawnProgram('dist/src/main.js', [...args, ...webhook, '--workers', '1', '--resync-period=0'], {
        ...urls.env,
        KUBERNETES_SERVICE_HOST: server.hostname,
        KUBERNETES_SERVICE_PORT: server.port,
        OVIM_SERVICE_ACCOUNT_ROOT: dir,
        KUBECONFIG: '',
        POD_NAME: name,
        POD_NAMESPACE: 'ovim-system',
        OVIM_DATABASE_URL: databaseUrl,
        OVIM_JWT_SECRET: SECRET,
        LOG_LEVEL: 'info',
      }, { logFile: join(dir, `${name}.log`), tsx: false });
      replicas.push({ name, program, urls, webhookPort });
    }
  });

  after(async function () {
    this.timeout(60_000);
    for (const r of replicas) r.program.kill();
    await service?.close();
    // The webhooks are cluster-wide (failurePolicy Fail): later suites must not meet them.
    if (cp) {
      for (const kind of ['mutatingwebhookconfiguration', 'validatingwebhookconfiguration']) {
        await kubectl(cp.kubeconfigPath, ['delete', kind, 'ovim-operator', '--ignore-not-found']);
      }
    }
    admin?.close();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  const logs = () => replicas.map((r) => `--- ${r.name}\n${r.program.log().slice(-3000)}`).join('\n');
  const lease = () => admin.get<Lease>(LEASE);
  const phase = async (name: string) => (await admin.get<Organization>(`/apis/ovim.io/v1/organizations/${name}`)).status?.phase;
  const created = async (uid: string | undefined) =>
    (await admin.list<{ reason: string }>('/api/v1/namespaces/default/events', { fieldSelector: `involvedObject.uid=${uid},reason=OrganizationCreated` })).items.length;
  /** Created as `user` with a YAML that names someone else as its requester. */
  async function createOrg(name: string, user: string): Promise<Organization> {
    const yaml = JSON.stringify({
      apiVersion: 'ovim.io/v1',
      kind: 'Organization',
      metadata: { name, annotations: { 'ovim.io/requested-by': 'mallory' } },
      spec: { displayName: name, admins: [`${name}-admins`] },
    });
    return JSON.parse(await kubectlOk(cp.kubeconfigPath, [`--as=${user}`, '--as-group=system:masters', 'create', '-f', '-', '-o', 'json'], yaml)) as Organization;
  }
  const createdEvent = async (uid: string | undefined) =>
    (await admin.list<{ metadata: { annotations?: Record<string, string> } }>('/api/v1/namespaces/default/events', {
      fieldSelector: `involvedObject.uid=${uid},reason=OrganizationCreated`,
    })).items[0];

  let leader: Replica;
  let follower: Replica;
  const first = `incluster-${sfx}-1`;
  let firstUid: string | undefined;

  it('both become ready; one holds the Lease and reconciles, the other serves the API and the webhook', async () => {
    for (const r of replicas) {
      await waitFor(`${r.name} ready`, async () => {
        if (r.program.child.exitCode !== null) throw new Error(`${r.name} exited\n${logs()}`);
        return (await httpGet(`${r.urls.probes}/readyz`))?.status === 200;
      }, { timeoutMs: 150_000 });
    }
    const holder = await waitFor('a leader', async () => (await lease()).spec?.holderIdentity || undefined, { timeoutMs: 60_000 });
    leader = replicas.find((r) => r.name === holder) as Replica;
    follower = replicas.find((r) => r.name !== holder) as Replica;
    expect(leader, `the Lease names ${holder}`).to.not.equal(undefined);
    // The Service's stand-in sends every admission call to the follower from now on.
    (service as ApiGate).route(follower.webhookPort);
    const org = await createOrg(first, `ic-user-${sfx}`);
    firstUid = org.metadata.uid;
    // The follower's webhook stamped the authenticated user, not the YAML's, and added the finalizer.
    expect(org.metadata.annotations?.['ovim.io/requested-by']).to.equal(`ic-user-${sfx}`);
    expect(org.metadata.finalizers).to.deep.equal(['ovim.io/organization-cleanup']);
    expect((service as ApiGate).connections.get(follower.webhookPort) ?? 0, 'admission calls reaching the follower').to.be.at.least(1);
    await waitFor('the organization Active', async () => (await phase(first)) === 'Active', { timeoutMs: 90_000 });
    await waitFor('its OrganizationCreated event', async () => (await created(firstUid)) === 1);
    // The leader verified the follower's stamp with the key the replicas share.
    expect((await createdEvent(firstUid))?.metadata.annotations).to.include({ 'ovim.io/actor': `ic-user-${sfx}`, 'ovim.io/actor-verified': 'true' });
    // Only the leader reconciled; the follower serves the event from its own store.
    const reconciled = async (r: Replica) => sample((await httpGet(`${r.urls.metrics}/metrics`))?.text ?? '', 'controller_runtime_reconcile_total', { controller: 'organization' }) ?? 0;
    expect(await reconciled(follower), 'the follower reconciles nothing').to.equal(0);
    expect(await reconciled(leader)).to.be.at.least(1);
    const token = await signToken({ userId: 'ic-admin', username: 'ic-admin', role: 'system_admin' }, new TextEncoder().encode(SECRET));
    await waitFor('the event on the follower\'s API', async () => {
      const res = await httpGet(`${follower.urls.api}/api/v1/events?reason=OrganizationCreated&name=${first}`, token);
      return res?.status === 200 && (JSON.parse(res.text) as { total_count: number }).total_count === 1;
    });
    expect(JSON.parse((await httpGet(`${follower.urls.probes}/health`))?.text ?? '{}')).to.have.nested.property('checks.leader_election.status', 'follower');
  });

  it('kill -9 of the leader: the other takes the Lease once its duration has passed and reconciles; no Created event repeats', async () => {
    const before = (await lease()).spec ?? {};
    const killedAt = Date.now();
    leader.program.kill(); // SIGKILL to its process group
    await waitFor('the leader gone', async () => processGroupMembers(leader.program.pid).length === 0);
    const taken = await waitFor('the follower holds the Lease', async () => {
      const spec = (await lease()).spec;
      return spec?.holderIdentity === follower.name ? spec : undefined;
    }, { timeoutMs: 90_000, intervalMs: 200 });
    // From the server's records: the new acquireTime against the last renewal of the dead leader.
    const gapMs = Date.parse(taken.acquireTime as string) - Date.parse(before.renewTime as string);
    const sinceKillMs = Date.parse(taken.acquireTime as string) - killedAt;
    // The follower counts the duration from when it saw the last renewal, then tries every retry
    // period: never before the lease expired (less the read its attempt began with, well under a
    // retry period). How soon after is a figure, printed below: an upper bound on it would be a
    // timed assertion that a loaded machine breaks.
    expect(gapMs, `acquired ${gapMs} ms after the last renewal (${sinceKillMs} ms after the kill)`).to.be.at.least(LEASE_MS - RETRY_MS);
    process.stdout.write(`      takeover: ${gapMs} ms after the last renewal, ${sinceKillMs} ms after kill -9\n`);
    const second = `incluster-${sfx}-2`;
    const secondUid = (await createOrg(second, `ic-user-${sfx}`)).metadata.uid;
    await waitFor('the new organization Active under the new leader', async () => (await phase(second)) === 'Active', { timeoutMs: 90_000 });
    await waitFor('its OrganizationCreated event', async () => (await created(secondUid)) === 1);
    // The new leader has reconciled both organizations (its start lists every one of them).
    await waitFor('both reconciled by the new leader', async () =>
      (sample((await httpGet(`${follower.urls.metrics}/metrics`))?.text ?? '', 'controller_runtime_reconcile_total', { controller: 'organization', result: 'success' }) ?? 0) >= 2);
    expect(await created(firstUid), 'OrganizationCreated of the first organization, once').to.equal(1);
    expect((await createdEvent(secondUid))?.metadata.annotations, 'the surviving replica stamped and verified the second').to.include({ 'ovim.io/actor': `ic-user-${sfx}`, 'ovim.io/actor-verified': 'true' });
    process.kill(follower.program.pid, 'SIGTERM');
    expect(await follower.program.exited, logs()).to.equal(0);
  });
});

/** The first container of a rendered Deployment. */
function container(deployment: object): { args?: string[] } {
  return ((deployment as { spec: unknown }).spec as { template: { spec: { containers: { args?: string[] }[] } } }).template.spec.containers[0] ?? {};
}
