// The Kubernetes variant for running at scale, checked offline like the rest
// of k8s/: it renders, validates against the schemas with no unknown field,
// and what it configures is what the processes' own config parsers accept:
// origins on a bucket with a Redis log, several of them, secrets only from
// Secrets; edges following a Redis stream (the local replica elsewhere).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import path from 'node:path';
import { parseEdgeConfig, parseOriginConfig } from '../../src/config.js';
import { K8S_DIR, containerEnv, kubectlMissing, render, validateStrict, type ContainerEnv, type K8sObject } from '../helpers/k8s.js';

const skip = kubectlMissing() ?? false;

interface Container extends ContainerEnv {
  args?: string[];
}
interface Workload extends K8sObject {
  spec: { replicas?: number; template: { spec: { containers: Container[] } } };
}

function workload(objects: K8sObject[], name: string): { deployment: Workload; container: Container } {
  const deployment = objects.find((o) => o.kind === 'Deployment' && o.metadata.name === name) as Workload | undefined;
  assert.ok(deployment, `Deployment ${name}`);
  return { deployment, container: deployment.spec.template.spec.containers[0]! };
}

test('the scale variant renders and validates with no unknown field', { skip }, async () => {
  for (const dir of ['base/origin-s3', 'overlays/origin-idc-s3', 'overlays/edge-idc-redis']) {
    const objects = render(path.join(K8S_DIR, dir));
    assert.ok(objects.length > 0, dir);
    for (const object of objects) assert.deepEqual(await validateStrict(object), [], `${dir}: ${object.kind}/${object.metadata.name}`);
  }
});

test('origin IDC at scale: several origins on a bucket with a Redis log, credentials only from Secrets; its edges follow the stream', { skip }, () => {
  const objects = render(path.join(K8S_DIR, 'overlays/origin-idc-s3'));
  const { deployment, container } = workload(objects, 'imgedge-origin');
  assert.ok((deployment.spec.replicas ?? 1) >= 2, 'several replicas');
  const [command, ...args] = container.args ?? [];
  assert.equal(command, 'origin');
  const { env, secrets } = containerEnv(objects, container, deployment.metadata.namespace ?? 'default');
  assert.deepEqual(secrets.sort(), ['AWS_ACCESS_KEY_ID', 'AWS_SECRET_ACCESS_KEY', 'IMGEDGE_UPLOAD_TOKEN']);
  for (const map of objects.filter((o) => o.kind === 'ConfigMap')) {
    for (const name of Object.keys(map['data'] as object)) assert.doesNotMatch(name, /TOKEN|SECRET|AWS_/, `${name} in a ConfigMap`);
  }
  const config = parseOriginConfig(args, env);
  assert.equal(config.s3?.bucket, 'images');
  assert.equal(config.s3?.credentials?.accessKeyId, 'from-secret-imgedge-s3-access-key-id');
  assert.match(config.changelog, /^redis:\/\//);
  assert.ok(config.uploadToken);
  assert.ok(!objects.some((o) => o.kind === 'StatefulSet' || o.kind === 'PersistentVolumeClaim'), 'no disk of its own');

  const edge = workload(objects, 'imgedge-edge');
  const [edgeCommand, ...edgeArgs] = edge.container.args ?? [];
  assert.equal(edgeCommand, 'edge');
  assert.equal(parseEdgeConfig(edgeArgs, containerEnv(objects, edge.container, edge.deployment.metadata.namespace ?? 'default').env).changelog, config.changelog);
});

test('edge IDC at scale: edges follow the stream on the IDC\'s own Redis replica', { skip }, () => {
  const objects = render(path.join(K8S_DIR, 'overlays/edge-idc-redis'));
  const { deployment, container } = workload(objects, 'imgedge-edge');
  const [, ...args] = container.args ?? [];
  const config = parseEdgeConfig(args, containerEnv(objects, container, deployment.metadata.namespace ?? 'default').env);
  assert.match(config.changelog, /^redis:\/\/redis-replica\./);
  assert.match(config.origin.href, /idc-a/);
});
