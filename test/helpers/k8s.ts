// Offline Kubernetes checks for the manifests in k8s/: kustomize renders them
// (kubectl's built-in kustomize), kubernetes-models validates each object
// against the API's schemas, and a field the schemas do not name is reported,
// which the schemas alone let through.
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { PROJECT_ROOT, tempDir } from './edge.js';

export const K8S_DIR = path.join(PROJECT_ROOT, 'k8s');

export interface K8sObject {
  readonly apiVersion: string;
  readonly kind: string;
  readonly metadata: { readonly name: string; readonly namespace?: string; readonly labels?: Record<string, string> };
  readonly [field: string]: unknown;
}

/** What a container's env says, as far as offline checks read it. */
export interface ContainerEnv {
  readonly env?: readonly {
    readonly name: string;
    readonly value?: string;
    readonly valueFrom?: {
      readonly secretKeyRef?: { readonly name: string; readonly key: string; readonly optional?: boolean };
      readonly fieldRef?: { readonly fieldPath: string };
    };
  }[];
  readonly envFrom?: readonly { readonly configMapRef?: { readonly name: string } }[];
}

/**
 * The variables a container starts with, as the kubelet makes them: its
 * ConfigMaps, then its own variables in order, each $(NAME) filled in from
 * those before, the namespace field read from the object, and a stand-in
 * value for each Secret key (their names listed).
 */
export function containerEnv(objects: readonly K8sObject[], container: ContainerEnv, namespace: string): { env: Record<string, string>; secrets: string[] } {
  const env: Record<string, string> = {};
  for (const source of container.envFrom ?? []) {
    const map = objects.find((o) => o.kind === 'ConfigMap' && o.metadata.name === source.configMapRef?.name);
    if (!map) throw new Error(`ConfigMap ${source.configMapRef?.name} is not rendered`);
    Object.assign(env, map['data']);
  }
  const secrets: string[] = [];
  for (const variable of container.env ?? []) {
    const ref = variable.valueFrom?.secretKeyRef;
    if (ref) {
      env[variable.name] = `from-secret-${ref.name}-${ref.key}`;
      secrets.push(variable.name);
    } else if (variable.valueFrom?.fieldRef?.fieldPath === 'metadata.namespace') {
      env[variable.name] = namespace;
    } else if (variable.value !== undefined) {
      env[variable.name] = variable.value.replace(/\$\((\w+)\)/g, (reference, name: string) => env[name] ?? reference);
    }
  }
  return { env, secrets };
}

/** null when kubectl runs here, else why the checks cannot. */
export function kubectlMissing(): string | null {
  const result = spawnSync('kubectl', ['version', '--client'], { encoding: 'utf8', timeout: 30_000 });
  if (result.error) return `kubectl is not installed (${(result.error as NodeJS.ErrnoException).code}): the manifests are not rendered`;
  return result.status === 0 ? null : `kubectl version --client failed: ${result.stderr.trim()}`;
}

function kubectl(args: string[], input?: string): string {
  const result = spawnSync('kubectl', args, { input, encoding: 'utf8', timeout: 60_000, maxBuffer: 64 * 1024 * 1024 });
  if (result.error) throw result.error;
  if (result.status !== 0) throw new Error(`kubectl ${args.join(' ')}: ${result.stderr.trim()}`);
  return result.stdout;
}

/** Renders a kustomization directory into its objects. */
export function render(dir: string): K8sObject[] {
  const yaml = kubectl(['kustomize', dir]);
  // kubectl prints JSON only through a command that edits; removing a label
  // no object has changes nothing but an absent labels map into {}, and with
  // --local no cluster is asked.
  const json = kubectl(['label', '--local', '-f', '-', '-o', 'json', 'imgedge-render-'], yaml);
  return JSON.parse(`[${json.trim().replace(/^}\n{/gm, '},\n{')}]`) as K8sObject[];
}

/**
 * Renders an overlay with components added, the way an operator lists them
 * in the overlay. Kustomize wants relative paths, so the kustomization sits in
 * a temp dir that names both by their path from there.
 */
export function renderWithComponents(overlay: string, components: readonly string[]): K8sObject[] {
  const dir = tempDir('kustomize');
  try {
    const rel = (p: string) => path.relative(dir, path.join(K8S_DIR, p));
    fs.writeFileSync(
      path.join(dir, 'kustomization.yaml'),
      [
        'apiVersion: kustomize.config.k8s.io/v1beta1',
        'kind: Kustomization',
        'namespace: imgedge',
        `resources: [${JSON.stringify(rel(overlay))}]`,
        `components: [${components.map((c) => JSON.stringify(rel(c))).join(', ')}]`,
        '',
      ].join('\n'),
    );
    return render(dir);
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

interface Validating {
  validate(): void;
}
type ModelClass = new (data: object) => Validating;

/** The kubernetes-models class of an object's apiVersion and kind. */
async function modelOf(object: K8sObject): Promise<ModelClass> {
  const [group, version] = object.apiVersion.includes('/') ? object.apiVersion.split('/') : ['', object.apiVersion];
  const module =
    group === 'monitoring.coreos.com'
      ? `@kubernetes-models/prometheus-operator/${group}/${version}/${object.kind}`
      : `kubernetes-models/${group ? `${group}/` : ''}${version}/${object.kind}`;
  const loaded = (await import(module)) as Record<string, ModelClass | undefined>;
  const model = loaded[object.kind];
  if (!model) throw new Error(`${module} has no ${object.kind}`);
  return model;
}

/**
 * Validates an object against its schema and returns the paths of fields the
 * schema does not name. The schemas compiled into kubernetes-models check the
 * fields they know and skip the rest, so the validator runs over proxies that
 * record which fields it reads: a field never read is unknown to the API
 * (the API server would drop it, or refuse it under strict validation). An
 * object the validator enumerates is a map (labels, data), whose keys are all
 * its own.
 */
export async function validateStrict(object: K8sObject): Promise<string[]> {
  const Model = await modelOf(object);
  const model = new Model(object);
  const read = new Map<object, Set<PropertyKey>>();
  const maps = new Set<object>();
  const proxies = new WeakMap<object, object>();
  const track = (value: unknown): unknown => {
    if (value === null || typeof value !== 'object') return value;
    let proxy = proxies.get(value);
    if (!proxy) {
      proxy = new Proxy(value, {
        get(target, key, receiver) {
          if (!read.has(target)) read.set(target, new Set());
          read.get(target)!.add(key);
          return track(Reflect.get(target, key, receiver));
        },
        has(target, key) {
          if (!read.has(target)) read.set(target, new Set());
          read.get(target)!.add(key);
          return Reflect.has(target, key);
        },
        ownKeys(target) {
          maps.add(target);
          return Reflect.ownKeys(target);
        },
      });
      proxies.set(value, proxy);
    }
    return proxy;
  };
  Model.prototype.validate.call(track(model) as Validating);

  const unknown: string[] = [];
  const walk = (value: unknown, at: string): void => {
    if (value === null || typeof value !== 'object') return;
    if (Array.isArray(value)) {
      value.forEach((item, i) => walk(item, `${at}[${i}]`));
      return;
    }
    const known = read.get(value);
    for (const [key, child] of Object.entries(value)) {
      if (!maps.has(value) && !known?.has(key)) unknown.push(`${at}.${key}`);
      else walk(child, `${at}.${key}`);
    }
  };
  walk(model, `${object.kind}/${object.metadata.name}`);
  return unknown;
}
