// config/ as kustomize renders it (kubectl kustomize, no cluster): what an operator of the
// cluster installs with `kubectl apply -k config/default` or `-k config/ha`. The server-side
// dry run of the same sets is test/integration/install.test.ts.
import { expect } from 'chai';
import { kustomize, one, type Rendered } from '../../support/kustomize.js';

/* eslint-disable @typescript-eslint/no-explicit-any -- rendered YAML is walked field by field */
type Any = any;

const container = (d: Rendered): Any => (d as Any).spec.template.spec.containers[0];
const envOf = (d: Rendered, name: string): Any => container(d).env.find((e: Any) => e.name === name);

describe('config/ rendered by kustomize', function () {
  this.timeout(60_000);

  it('every folder renders', () => {
    for (const dir of ['crd', 'rbac', 'manager', 'webhook', 'policies', 'prometheus', 'grafana', 'samples', 'default', 'ha']) {
      expect(kustomize(`config/${dir}`).length, dir).to.be.greaterThan(0);
    }
  });

  describe('config/default', () => {
    let objects: Rendered[];
    before(() => (objects = kustomize('config/default')));

    it('holds the namespace, CRDs, RBAC, webhook, policies, Deployment and Services', () => {
      const kinds = new Set(objects.map((o) => o.kind));
      for (const kind of ['Namespace', 'CustomResourceDefinition', 'ServiceAccount', 'ClusterRole', 'ClusterRoleBinding', 'Role', 'RoleBinding',
        'Deployment', 'PersistentVolumeClaim', 'Service', 'MutatingWebhookConfiguration', 'ValidatingWebhookConfiguration',
        'ValidatingAdmissionPolicy', 'ValidatingAdmissionPolicyBinding']) {
        expect(kinds, kind).to.include(kind);
      }
      expect(objects.filter((o) => o.kind === 'CustomResourceDefinition').map((o) => o.metadata.name).sort()).to.deep.equal([
        'eventroutes.ovim.io', 'organizations.ovim.io', 'virtualdatacenters.ovim.io',
      ]);
      // The ServiceMonitor is optional (needs the Prometheus Operator's CRDs).
      expect(kinds).to.not.include('ServiceMonitor');
      one(objects, 'Service', 'ovim-operator-api');
      one(objects, 'Service', 'ovim-operator-webhook');
      one(objects, 'Service', 'ovim-operator-metrics');
      for (const o of objects.filter((x) => x.kind !== 'Namespace' && x.metadata.namespace)) expect(o.metadata.namespace, `${o.kind}/${o.metadata.name}`).to.equal('ovim-system');
    });

    it('the Lease is a Role in ovim-system; viewer and editor ClusterRoles aggregate into view and edit', () => {
      const lease = one(objects, 'Role', 'ovim-operator-leader-election') as Any;
      expect(lease.metadata.namespace).to.equal('ovim-system');
      expect(lease.rules[0].resources).to.deep.equal(['leases']);
      expect(one(objects, 'ClusterRole', 'ovim-viewer').metadata.labels).to.include({ 'rbac.authorization.k8s.io/aggregate-to-view': 'true' });
      expect(one(objects, 'ClusterRole', 'ovim-editor').metadata.labels).to.include({ 'rbac.authorization.k8s.io/aggregate-to-edit': 'true' });
      // The operator's own role grants no Lease cluster-wide and no ClusterRole writes.
      const role = one(objects, 'ClusterRole', 'ovim-operator') as Any;
      expect(role.rules.flatMap((r: Any) => r.resources)).to.not.include('leases');
      expect(role.rules.filter((r: Any) => r.resources.includes('clusterroles')).flatMap((r: Any) => r.verbs)).to.deep.equal(['bind']);
    });

    it('the Deployment: 1 replica, Recreate, archive on the claim, downward API, JWT secret file, restricted, probes, resources', () => {
      const d = one(objects, 'Deployment', 'ovim-operator') as Any;
      expect(d.spec.replicas).to.equal(1);
      expect(d.spec.strategy).to.deep.equal({ type: 'Recreate' });
      const pod = d.spec.template.spec;
      const c = container(d);
      expect(pod.serviceAccountName).to.equal('ovim-operator');
      expect(pod.securityContext).to.deep.include({ runAsNonRoot: true, seccompProfile: { type: 'RuntimeDefault' } });
      expect(c.securityContext).to.deep.equal({ allowPrivilegeEscalation: false, readOnlyRootFilesystem: true, capabilities: { drop: ['ALL'] } });
      expect(envOf(d, 'POD_NAME').valueFrom.fieldRef.fieldPath).to.equal('metadata.name');
      expect(envOf(d, 'POD_NAMESPACE').valueFrom.fieldRef.fieldPath).to.equal('metadata.namespace');
      expect(envOf(d, 'OVIM_JWT_SECRET_FILE').value).to.equal('/etc/ovim/jwt/secret');
      expect(pod.volumes.find((v: Any) => v.name === 'jwt').secret.secretName).to.equal('ovim-jwt');
      // The archive is the only writable place, on the claim.
      expect(c.args).to.include('--history-path=/var/lib/ovim/history.db');
      expect(c.volumeMounts.filter((m: Any) => !m.readOnly).map((m: Any) => m.mountPath)).to.deep.equal(['/var/lib/ovim']);
      expect(pod.volumes.find((v: Any) => v.name === 'history').persistentVolumeClaim.claimName).to.equal('ovim-history');
      one(objects, 'PersistentVolumeClaim', 'ovim-history');
      // Separate listeners; the probes on theirs.
      expect(c.args).to.include.members(['--api-bind-address=:8080', '--health-probe-bind-address=:8081', '--metrics-bind-address=:8082', '--webhook-port=9443']);
      expect(c.livenessProbe.httpGet).to.deep.equal({ path: '/healthz', port: 'probes' });
      expect(c.readinessProbe.httpGet).to.deep.equal({ path: '/readyz', port: 'probes' });
      expect(c.ports.find((p: Any) => p.name === 'probes').containerPort).to.equal(8081);
      expect(c.resources.requests).to.have.keys('cpu', 'memory');
      expect(c.resources.limits).to.have.keys('cpu', 'memory');
      // Longer than the drain and flush budget (the recorder's 2 s, the archive's last batch).
      expect(pod.terminationGracePeriodSeconds).to.be.at.least(30);
    });
  });

  describe('config/ha', () => {
    let objects: Rendered[];
    before(() => (objects = kustomize('config/ha')));

    it('2 replicas, --leader-elect, the database URL from a Secret, no claim, a PDB, anti-affinity', () => {
      const d = one(objects, 'Deployment', 'ovim-operator') as Any;
      expect(d.spec.replicas).to.equal(2);
      expect(d.spec.strategy.type).to.equal('RollingUpdate');
      const c = container(d);
      expect(c.args).to.include('--leader-elect');
      expect(c.args.some((a: string) => a.startsWith('--history-path'))).to.equal(false);
      expect(envOf(d, 'OVIM_DATABASE_URL').valueFrom.secretKeyRef).to.deep.equal({ name: 'ovim-database', key: 'url' });
      expect(d.spec.template.spec.volumes.map((v: Any) => v.name)).to.deep.equal(['jwt']);
      expect(c.volumeMounts.map((m: Any) => m.name)).to.deep.equal(['jwt']);
      expect(objects.some((o) => o.kind === 'PersistentVolumeClaim')).to.equal(false);
      expect((one(objects, 'PodDisruptionBudget', 'ovim-operator') as Any).spec.minAvailable).to.equal(1);
      const anti = d.spec.template.spec.affinity.podAntiAffinity.preferredDuringSchedulingIgnoredDuringExecution[0];
      expect(anti.podAffinityTerm.topologyKey).to.equal('kubernetes.io/hostname');
      // Still the restricted container.
      expect(c.securityContext.readOnlyRootFilesystem).to.equal(true);
    });
  });

  it('config/samples: the organization namespace comes first, so that one apply works', () => {
    const objects = kustomize('config/samples');
    expect(objects[0]).to.deep.include({ kind: 'Namespace' });
    expect(objects[0]?.metadata).to.deep.include({ name: 'org-acme', labels: { 'app.kubernetes.io/managed-by': 'ovim-operator', 'ovim.io/organization': 'acme' } });
    expect(objects.map((o) => o.kind)).to.include.members(['Organization', 'VirtualDataCenter', 'EventRoute', 'Secret']);
  });

  it('config/prometheus: the ServiceMonitor selects the metrics Service', () => {
    const monitor = one(kustomize('config/prometheus'), 'ServiceMonitor', 'ovim-operator') as Any;
    const service = one(kustomize('config/manager'), 'Service', 'ovim-operator-metrics') as Any;
    expect(service.metadata.labels).to.include(monitor.spec.selector.matchLabels);
    expect(monitor.spec.endpoints[0].port).to.equal(service.spec.ports[0].name);
  });

  it('config/grafana: the dashboard ConfigMap lives in ovim-system with the sidecar label', () => {
    const dashboard = one(kustomize('config/grafana'), 'ConfigMap', 'ovim-operator-dashboard') as Any;
    expect(dashboard.metadata.namespace).to.equal('ovim-system');
    expect(dashboard.metadata.labels).to.include({ grafana_dashboard: '1' });
    expect(Object.keys(dashboard.data)).to.deep.equal(['ovim-operator.json']);
  });
});
