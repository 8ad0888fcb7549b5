// The Kubernetes manifests, checked offline: every kustomization renders,
// every object validates against the API's schemas with unknown fields
// caught (kubernetes-models, and its prometheus-operator models for the
// ServiceMonitor), and what the objects say agrees with the product: the
// probes ask the contract's admin paths on the ports the configuration
// makes the process listen on (read by the edge's own config parser), the
// cache fits its volume, the drain fits the grace period.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { EDGE_OPTIONS, parseEdgeConfig, type EdgeConfig } from '../../src/config.js';
import { PROJECT_ROOT } from '../helpers/edge.js';
import { K8S_DIR, containerEnv, kubectlMissing, render, renderWithComponents, validateStrict, type ContainerEnv, type K8sObject } from '../helpers/k8s.js';

const skip = kubectlMissing() ?? false;
const OVERLAYS = ['overlays/origin-idc', 'overlays/edge-idc'];
const COMPONENTS = ['components/servicemonitor', 'components/edge-cache-pvc'];

interface Rendering {
  readonly name: string;
  readonly objects: K8sObject[];
}

let cached: Rendering[] | undefined;
/** Every base and overlay, and the origin IDC with each component and both. */
function renderings(): Rendering[] {
  cached ??= [
    ...['base/edge', 'base/origin', ...OVERLAYS].map((dir) => ({ name: dir, objects: render(path.join(K8S_DIR, dir)) })),
    ...[...COMPONENTS.map((c) => [c]), COMPONENTS].map((components) => ({
      name: `overlays/origin-idc + ${components.join(' + ')}`,
      objects: renderWithComponents('overlays/origin-idc', components),
    })),
  ];
  return cached;
}

// Typed views of the few fields the checks read; validateStrict has already
// checked the shapes against the schemas.
interface Probe {
  httpGet?: { path: string; port: string | number };
  tcpSocket?: { port: string | number };
}
interface Container extends ContainerEnv {
  name: string;
  args?: string[];
  ports?: { name: string; containerPort: number }[];
  readinessProbe?: Probe;
  livenessProbe?: Probe;
  lifecycle?: { preStop?: { sleep?: { seconds: number } } };
  resources?: { requests?: Record<string, string> };
  securityContext?: { allowPrivilegeEscalation?: boolean; readOnlyRootFilesystem?: boolean; capabilities?: { drop?: string[] } };
  volumeMounts?: { name: string; mountPath: string }[];
}
interface PodSpec {
  containers: Container[];
  terminationGracePeriodSeconds?: number;
  securityContext?: { runAsNonRoot?: boolean; runAsUser?: number };
  volumes?: {
    name: string;
    emptyDir?: { sizeLimit?: string };
    ephemeral?: { volumeClaimTemplate: { spec: { resources: { requests: { storage: string } } } } };
  }[];
}
interface Workload extends K8sObject {
  spec: { template: { spec: PodSpec }; volumeClaimTemplates?: { metadata: { name: string } }[] };
}
interface ServiceObject extends K8sObject {
  spec: { clusterIP?: string; ports: { name: string; port: number; targetPort: string | number }[]; selector: Record<string, string> };
}

function find<T extends K8sObject>(objects: K8sObject[], kind: string, name: string): T | undefined {
  return objects.find((o) => o.kind === kind && (o.metadata.name === name || o.metadata.name.startsWith(`${name}-`))) as T | undefined;
}

function edgeOf(objects: K8sObject[]): { deployment: Workload; container: Container; config: EdgeConfig; env: Record<string, string> } | null {
  const deployment = find<Workload>(objects, 'Deployment', 'imgedge-edge');
  if (!deployment) return null;
  const container = deployment.spec.template.spec.containers[0]!;
  const [command, ...args] = container.args ?? [];
  assert.equal(command, 'edge');
  const { env } = containerEnv(objects, container, deployment.metadata.namespace ?? 'default');
  return { deployment, container, env, config: parseEdgeConfig(args, env) };
}

function portNumber(container: Container, port: string | number | undefined): number | undefined {
  return typeof port === 'number' ? port : container.ports?.find((p) => p.name === port)?.containerPort;
}

/** A Kubernetes quantity ("20Gi", "500M") in bytes. */
function quantityBytes(value: string): number {
  const match = /^(\d+(?:\.\d+)?)([KMGTPE]i|[kMGTPE])?$/.exec(value);
  assert.ok(match, `${value} is a quantity`);
  const unit = match[2] ?? '';
  const power = ' KMGTPE'.indexOf(unit[0]!.toUpperCase());
  return Number(match[1]) * (unit ? (unit.endsWith('i') ? 1024 : 1000) ** power : 1);
}

test('every base, overlay and component renders', { skip }, () => {
  for (const { name, objects } of renderings()) {
    assert.ok(objects.length > 0, `${name} renders objects`);
    if (name.startsWith('overlays/')) {
      for (const o of objects) assert.equal(o.metadata.namespace, 'imgedge', `${name}: ${o.kind}/${o.metadata.name} namespace`);
    }
  }
});

test('every rendered object validates against the Kubernetes schemas, with no unknown field', { skip }, async () => {
  for (const { name, objects } of renderings()) {
    for (const object of objects) {
      const unknown = await validateStrict(object).catch((error: Error) => assert.fail(`${name}: ${object.kind}/${object.metadata.name}: ${error.message}`));
      assert.deepEqual(unknown, [], `${name}: fields the API does not know`);
    }
  }
});

test('the validation catches an unknown field and a wrong type', { skip }, async () => {
  const deployment = structuredClone(edgeOf(render(path.join(K8S_DIR, 'base/edge')))!.deployment);
  const container = deployment.spec.template.spec.containers[0] as unknown as Record<string, unknown>;
  container['readinesProbe'] = container['readinessProbe'];
  assert.deepEqual(await validateStrict(deployment), ['Deployment/imgedge-edge.spec.template.spec.containers[0].readinesProbe']);
  (container['ports'] as { containerPort: unknown }[])[0]!.containerPort = '8080';
  await assert.rejects(validateStrict(deployment), /containerPort must be integer/);
});

test('edge probes ask the contract\'s admin paths on the port the edge listens on', { skip }, () => {
  for (const { name, objects } of renderings()) {
    const edge = edgeOf(objects);
    if (!edge) continue;
    const { container, config } = edge;
    assert.equal(portNumber(container, 'http'), config.listen.port, `${name}: http port`);
    assert.equal(portNumber(container, 'admin'), config.adminListen.port, `${name}: admin port`);
    assert.equal(config.listen.port, 8080, `${name}: the contract's public port`);
    assert.equal(config.adminListen.port, 9090, `${name}: the contract's admin port`);
    // The kubelet and Prometheus come from outside the pod.
    assert.equal(config.adminListen.host, '0.0.0.0', `${name}: admin listens beyond loopback`);
    assert.equal(container.readinessProbe?.httpGet?.path, '/readyz');
    assert.equal(portNumber(container, container.readinessProbe?.httpGet?.port), config.adminListen.port);
    assert.equal(container.livenessProbe?.httpGet?.path, '/healthz');
    assert.equal(portNumber(container, container.livenessProbe?.httpGet?.port), config.adminListen.port);
    assert.equal(config.cacheDir, container.volumeMounts?.find((m) => m.name === 'cache')?.mountPath, `${name}: cache dir is the volume`);
  }
});

test('browsers reach the public port only; the peers Service is headless; Prometheus scrapes /metrics on the admin port', { skip }, () => {
  for (const { name, objects } of renderings()) {
    const edge = edgeOf(objects);
    if (!edge) continue;
    const browsers = find<ServiceObject>(objects, 'Service', 'imgedge-edge')!;
    assert.deepEqual(browsers.spec.ports.map((p) => portNumber(edge.container, p.targetPort)), [8080], `${name}: browser Service`);
    const peers = objects.find((o) => o.metadata.name === 'imgedge-edge-peers') as ServiceObject;
    assert.equal(peers.spec.clusterIP, 'None');
    assert.deepEqual(peers.spec.ports.map((p) => portNumber(edge.container, p.targetPort)), [8080]);
    const podLabels = (edge.deployment.spec.template as unknown as { metadata: { labels: Record<string, string> } }).metadata.labels;
    const admin = objects.filter(
      (o): o is ServiceObject =>
        o.kind === 'Service' &&
        Object.entries((o as ServiceObject).spec.selector).every(([k, v]) => podLabels[k] === v) &&
        (o as ServiceObject).spec.ports.some((p) => portNumber(edge.container, p.targetPort) === 9090),
    );
    const monitor = objects.find((o) => o.kind === 'ServiceMonitor') as
      | (K8sObject & { spec: { selector: { matchLabels: Record<string, string> }; endpoints: { port: string; path: string }[] } })
      | undefined;
    if (!monitor) {
      assert.deepEqual(admin, [], `${name}: no Service reaches the admin port`);
      continue;
    }
    assert.deepEqual(admin.map((s) => s.metadata.name), ['imgedge-edge-metrics'], `${name}: only the metrics Service reaches the admin port`);
    assert.equal(admin[0]!.spec.clusterIP, 'None');
    const selected = objects.filter(
      (o) => o.kind === 'Service' && Object.entries(monitor.spec.selector.matchLabels).every(([k, v]) => o.metadata.labels?.[k] === v),
    );
    assert.deepEqual(selected.map((s) => s.metadata.name), ['imgedge-edge-metrics']);
    assert.deepEqual(monitor.spec.endpoints.map((e) => [e.port, e.path]), [['admin', '/metrics']]);
  }
});

test('the replicas of an IDC peer through the headless Service, and take the admin token purges are passed on with', { skip }, () => {
  for (const { name, objects } of renderings()) {
    const edge = edgeOf(objects);
    if (!edge) continue;
    const peers = find<ServiceObject>(objects, 'Service', 'imgedge-edge-peers')!;
    const namespace = edge.deployment.metadata.namespace ?? 'default';
    assert.equal(edge.config.peersDns, `imgedge-edge-peers.${namespace}.svc.cluster.local`, `${name}: --peers-dns names the headless Service`);
    assert.equal((peers.spec as { publishNotReadyAddresses?: boolean }).publishNotReadyAddresses ?? false, false, `${name}: ready pods only`);
    const podLabels = (edge.deployment.spec.template as unknown as { metadata: { labels: Record<string, string> } }).metadata.labels;
    assert.ok(Object.entries(peers.spec.selector).every(([k, v]) => podLabels[k] === v), `${name}: the Service selects the edges`);
    // Peers are reached on this replica's listen port, at their addresses.
    assert.deepEqual(peers.spec.ports.map((p) => portNumber(edge.container, p.targetPort)), [edge.config.listen.port]);
    assert.equal(edge.config.self, undefined, `${name}: --self derived from the pod's address`);
    const token = edge.container.env?.find((v) => v.name === 'IMGEDGE_ADMIN_TOKEN')?.valueFrom?.secretKeyRef;
    assert.equal(token?.key, 'admin-token', `${name}: one token for every replica, from the Secret`);
  }
});

test('the cache stays at least 20% under its volume, room for fills in progress and the journal', { skip }, () => {
  for (const { name, objects } of renderings()) {
    const edge = edgeOf(objects);
    if (!edge) continue;
    const volume = edge.deployment.spec.template.spec.volumes?.find((v) => v.name === 'cache');
    const size = volume?.emptyDir?.sizeLimit ?? volume?.ephemeral?.volumeClaimTemplate.spec.resources.requests.storage;
    assert.ok(size, `${name}: the cache volume has a size`);
    const volumeBytes = quantityBytes(size);
    const { cacheMaxBytes, maxOriginFetches, maxObjectBytes } = edge.config;
    assert.ok(cacheMaxBytes <= 0.8 * volumeBytes, `${name}: ${cacheMaxBytes} bytes of cache in ${size}`);
    assert.ok(maxOriginFetches * maxObjectBytes <= (volumeBytes - cacheMaxBytes) / 2, `${name}: fills in progress fit in half the headroom`);
    if (volume?.emptyDir) {
      // The scheduler places the pod where the node has that much disk.
      assert.equal(quantityBytes(edge.container.resources?.requests?.['ephemeral-storage'] ?? '0'), volumeBytes, `${name}: ephemeral-storage request`);
    }
  }
});

test('the preStop pause and the drain fit in the grace period', { skip }, () => {
  for (const { name, objects } of renderings()) {
    const edge = edgeOf(objects);
    if (!edge) continue;
    const pause = edge.container.lifecycle?.preStop?.sleep?.seconds ?? 0;
    assert.ok(pause >= 2, `${name}: endpoints get time to drop the pod`);
    const grace = edge.deployment.spec.template.spec.terminationGracePeriodSeconds ?? 30;
    assert.ok(pause + edge.config.drainTimeoutMs / 1000 < grace, `${name}: ${pause} s + drain ${edge.config.drainTimeoutMs} ms < ${grace} s`);
  }
});

test('every variable the edge is given names one of its options', { skip }, () => {
  // The edge reads the IMGEDGE_* variables of the options it knows and no
  // others, so a misspelt one would be ignored without a word.
  const known = new Set(Object.keys(EDGE_OPTIONS).map((o) => `IMGEDGE_${o.toUpperCase().replaceAll('-', '_')}`));
  for (const { name, objects } of renderings()) {
    const edge = edgeOf(objects);
    if (!edge) continue;
    const names = [...Object.keys(edge.env), ...(edge.container.env ?? []).map((e) => e.name)];
    // Any other variable is there to be filled into one of them, $(NAME), as the kubelet does.
    const referenced = (edge.container.env ?? []).filter((e) => e.name.startsWith('IMGEDGE_')).map((e) => e.value ?? '').join(' ');
    for (const variable of names) {
      if (variable.startsWith('IMGEDGE_')) assert.ok(known.has(variable), `${name}: ${variable} is an option of imgedge edge`);
      else assert.ok(referenced.includes(`$(${variable})`), `${name}: ${variable} is filled into an IMGEDGE_ variable`);
    }
    assert.deepEqual(edge.container.args, ['edge']);
  }
});

test('the origin runs the contract\'s flags, its root on the claim and its token from a Secret', { skip }, () => {
  for (const { name, objects } of renderings()) {
    const origin = find<Workload>(objects, 'StatefulSet', 'imgedge-origin');
    if (!origin) continue;
    const container = origin.spec.template.spec.containers[0]!;
    const [command, ...args] = container.args ?? [];
    assert.equal(command, 'origin');
    const flags = new Map(args.map((a) => [a.slice(0, a.indexOf('=')), a.slice(a.indexOf('=') + 1)]));
    assert.deepEqual([...flags.keys()].sort(), ['--listen', '--max-age', '--max-upload-bytes', '--root']);
    const port = Number(flags.get('--listen')!.split(':').at(-1));
    assert.equal(port, 8081, `${name}: the contract's origin port`);
    assert.equal(portNumber(container, 'http'), port);
    assert.equal(portNumber(container, container.readinessProbe?.tcpSocket?.port), port);
    assert.equal(portNumber(container, container.livenessProbe?.tcpSocket?.port), port);
    const mount = container.volumeMounts?.find((m) => m.mountPath === flags.get('--root'));
    assert.ok(mount, `${name}: --root is a mounted volume`);
    assert.deepEqual(origin.spec.volumeClaimTemplates?.map((c) => c.metadata.name), [mount.name]);
    const token = container.env?.find((e) => e.name === 'IMGEDGE_UPLOAD_TOKEN');
    assert.deepEqual(token?.valueFrom?.secretKeyRef, { name: 'imgedge-origin', key: 'upload-token' });
    const service = find<ServiceObject>(objects, 'Service', 'imgedge-origin')!;
    assert.deepEqual(service.spec.ports.map((p) => portNumber(container, p.targetPort)), [port]);
  }
});

test('every pod runs as the image\'s non-root user, read-only, unprivileged', { skip }, () => {
  const user = /^USER (\d+)/m.exec(fs.readFileSync(path.join(PROJECT_ROOT, 'Dockerfile'), 'utf8'))?.[1];
  for (const { name, objects } of renderings()) {
    for (const workload of objects.filter((o): o is Workload => o.kind === 'Deployment' || o.kind === 'StatefulSet')) {
      const pod = workload.spec.template.spec;
      assert.equal(pod.securityContext?.runAsNonRoot, true, `${name}: ${workload.kind}`);
      assert.equal(String(pod.securityContext?.runAsUser), user, `${name}: ${workload.kind} runs as the image's user`);
      for (const container of pod.containers) {
        assert.deepEqual(container.securityContext, { allowPrivilegeEscalation: false, readOnlyRootFilesystem: true, capabilities: { drop: ['ALL'] } });
      }
    }
  }
});
