/**
 * Validates the manifests under k8s/ without a cluster:
 *   1. every document parses (YAML errors and duplicate keys fail) and is validated against the
 *      Kubernetes OpenAPI schema of its apiVersion/kind, as shipped precompiled by the npm package
 *      `kubernetes-models` (no download at run time). Like kubeconform without -strict, the upstream
 *      schemas accept unknown fields; the checks below cover the ones that matter here;
 *   2. the objects fit together: every Service selects a Deployment's pods and targets a declared
 *      port, every HPA and PDB points at a Deployment, ConfigMap references resolve, no Secret values
 *      are committed, and every service of platform/config.ts has its Deployment, Service and HPA
 *      with probes on the health endpoints, resources, its default port and only known variables;
 *   3. kustomization.yaml lists exactly the other manifests.
 *   node scripts/validate-k8s.ts [dir]      (default: k8s)
 */
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { parseAllDocuments } from 'yaml';
import { DEFAULT_PORTS, ENVIRONMENT_VARIABLES, SERVICE_NAMES } from '../platform/config.ts';

type Labels = Record<string, string>;
interface Manifest {
  apiVersion?: string;
  kind?: string;
  metadata?: { name?: string; namespace?: string; labels?: Labels };
  spec?: any;
  data?: Record<string, string>;
  stringData?: Record<string, string>;
  resources?: string[];
}
interface Located {
  file: string;
  doc: Manifest;
}

const CLUSTER_SCOPED = new Set(['Namespace', 'ClusterRole', 'ClusterRoleBinding', 'PersistentVolume', 'StorageClass', 'PriorityClass']);
const KUSTOMIZATION = 'kustomization.yaml';

const dir = path.resolve(process.argv[2] ?? 'k8s');
const problems: string[] = [];
const fail = (where: string, message: string) => problems.push(`${where}: ${message}`);

// One-off manifests (k8s/jobs/, e.g. creating the first admin) are checked like the rest but are not
// part of the kustomization: `kubectl apply -k k8s/` must never run them.
const ONE_OFF_DIR = 'jobs';
const yamlIn = (sub: string) => (existsSync(path.join(dir, sub)) ? readdirSync(path.join(dir, sub)).filter((name) => /\.ya?ml$/.test(name)).map((name) => path.posix.join(sub, name)) : []);
const files = [...yamlIn('.').map((file) => path.posix.normalize(file)), ...yamlIn(ONE_OFF_DIR)].sort();
const manifests: Located[] = [];
let kustomization: Located | undefined;

for (const file of files) {
  const documents = parseAllDocuments(readFileSync(path.join(dir, file), 'utf8'), { uniqueKeys: true, prettyErrors: true });
  for (const document of Array.isArray(documents) ? documents : [documents]) {
    for (const error of [...document.errors, ...document.warnings]) fail(file, error.message);
    const doc = document.toJS() as Manifest | null;
    if (doc === null || doc === undefined) continue; // an empty document (e.g. a trailing ---)
    if (file === KUSTOMIZATION) kustomization = { file, doc };
    else manifests.push({ file, doc });
  }
}

const where = ({ file, doc }: Located) => `${file} ${doc.kind ?? '?'}/${doc.metadata?.name ?? '?'}`;

// 1. Shape and schema.
let schemaChecked = 0;
for (const located of manifests) {
  const { doc } = located;
  if (!doc.apiVersion || !doc.kind || !doc.metadata?.name) {
    fail(where(located), 'apiVersion, kind and metadata.name are required');
    continue;
  }
  const Model = await loadModel(doc.apiVersion, doc.kind);
  if (!Model) {
    fail(where(located), `no schema for ${doc.apiVersion} ${doc.kind} in kubernetes-models`);
    continue;
  }
  try {
    new Model(doc).validate();
    schemaChecked++;
  } catch (error) {
    fail(where(located), `schema: ${(error as Error).message}`);
  }
}

// 2. References between objects.
const namespaces = new Set(manifests.filter(({ doc }) => doc.kind === 'Namespace').map(({ doc }) => doc.metadata?.name));
const seen = new Set<string>();
for (const located of manifests) {
  const { doc } = located;
  const key = `${doc.kind}/${doc.metadata?.namespace ?? ''}/${doc.metadata?.name}`;
  if (seen.has(key)) fail(where(located), 'defined twice');
  seen.add(key);
  if (!CLUSTER_SCOPED.has(doc.kind ?? '')) {
    if (!doc.metadata?.namespace) fail(where(located), 'metadata.namespace is required (namespaced kind)');
    else if (!namespaces.has(doc.metadata.namespace)) fail(where(located), `namespace ${doc.metadata.namespace} is not defined in ${path.basename(dir)}/`);
  }
  if (doc.kind === 'Secret' && (Object.keys(doc.data ?? {}).length > 0 || Object.keys(doc.stringData ?? {}).length > 0)) {
    fail(where(located), 'secret values must not be committed: create the Secret outside the repository');
  }
}

const ofKind = (kind: string) => manifests.filter(({ doc }) => doc.kind === kind);
const deployments = ofKind('Deployment');
const configMaps = ofKind('ConfigMap');
const known = new Set(ENVIRONMENT_VARIABLES);
const requiredSecrets = new Set<string>();

const inNamespace = (a: Manifest, b: Manifest) => (a.metadata?.namespace ?? '') === (b.metadata?.namespace ?? '');
const podLabels = (deployment: Manifest): Labels => deployment.spec?.template?.metadata?.labels ?? {};
const selects = (selector: Labels | undefined, labels: Labels) =>
  !!selector && Object.keys(selector).length > 0 && Object.entries(selector).every(([k, v]) => labels[k] === v);
const containersOf = (deployment: Manifest): any[] => deployment.spec?.template?.spec?.containers ?? [];

for (const { doc: map, ...rest } of configMaps) {
  for (const key of Object.keys(map.data ?? {})) {
    if (!known.has(key)) fail(where({ doc: map, ...rest }), `${key} is not a variable platform/config.ts reads`);
  }
}

for (const located of deployments) {
  const { doc } = located;
  if (!selects(doc.spec?.selector?.matchLabels, podLabels(doc))) fail(where(located), 'spec.selector.matchLabels must match the pod template labels');
  for (const container of containersOf(doc)) {
    const at = `${where(located)} container ${container.name}`;
    const ports = new Set<string | number>((container.ports ?? []).flatMap((p: any) => [p.name, p.containerPort]));
    for (const [probe, endpoint] of [['readinessProbe', '/health/ready'], ['livenessProbe', '/health/live']] as const) {
      const httpGet = container[probe]?.httpGet;
      if (httpGet?.path !== endpoint) fail(at, `${probe} must GET ${endpoint}`);
      else if (!ports.has(httpGet.port)) fail(at, `${probe} port ${httpGet.port} is not a declared container port`);
    }
    for (const section of ['requests', 'limits']) {
      for (const resource of ['cpu', 'memory']) {
        if (!container.resources?.[section]?.[resource]) fail(at, `resources.${section}.${resource} is required`);
      }
    }
    for (const source of container.envFrom ?? []) {
      if (source.configMapRef && !configMaps.some(({ doc: map }) => inNamespace(map, doc) && map.metadata?.name === source.configMapRef.name)) {
        fail(at, `envFrom ConfigMap ${source.configMapRef.name} is not defined`);
      }
      if (source.secretRef) requiredSecrets.add(`${source.secretRef.name} (all keys)`);
    }
    for (const variable of container.env ?? []) {
      if (!known.has(variable.name)) fail(at, `env ${variable.name} is not a variable platform/config.ts reads`);
      const configMapKey = variable.valueFrom?.configMapKeyRef;
      if (configMapKey && !configMaps.some(({ doc: map }) => inNamespace(map, doc) && map.metadata?.name === configMapKey.name && configMapKey.key in (map.data ?? {}))) {
        fail(at, `env ${variable.name}: ConfigMap key ${configMapKey.name}/${configMapKey.key} is not defined`);
      }
      const secretKey = variable.valueFrom?.secretKeyRef;
      if (secretKey) requiredSecrets.add(`${secretKey.name}/${secretKey.key}`);
    }
  }
}

for (const located of ofKind('Service')) {
  const { doc } = located;
  const targets = deployments.filter(({ doc: deployment }) => inNamespace(deployment, doc) && selects(doc.spec?.selector, podLabels(deployment)));
  if (targets.length === 0) {
    fail(where(located), `selector ${JSON.stringify(doc.spec?.selector)} matches no Deployment's pod labels`);
    continue;
  }
  for (const port of doc.spec?.ports ?? []) {
    const target = port.targetPort ?? port.port;
    const declared = targets.every(({ doc: deployment }) =>
      containersOf(deployment).some((container) => (container.ports ?? []).some((p: any) => p.name === target || p.containerPort === target)),
    );
    if (!declared) fail(where(located), `targetPort ${target} is not a container port of the selected pods`);
  }
}

// Every Ingress backend is a Service defined here, on one of its ports (by name or number).
for (const located of ofKind('Ingress')) {
  const { doc } = located;
  for (const rule of doc.spec?.rules ?? []) {
    for (const { path: route, backend } of rule.http?.paths ?? []) {
      const service = ofKind('Service').find(({ doc: s }) => inNamespace(s, doc) && s.metadata?.name === backend?.service?.name);
      const port = backend?.service?.port;
      if (!service) fail(where(located), `path ${route} sends to Service ${backend?.service?.name}, which is not defined here`);
      else if (!(service.doc.spec?.ports ?? []).some((p: any) => p.name === port?.name || p.port === port?.number)) fail(where(located), `path ${route}: Service ${backend.service.name} has no port ${port?.name ?? port?.number}`);
    }
  }
}

for (const kind of ['HorizontalPodAutoscaler', 'PodDisruptionBudget']) {
  for (const located of ofKind(kind)) {
    const { doc } = located;
    const found =
      kind === 'HorizontalPodAutoscaler'
        ? deployments.some(({ doc: d }) => inNamespace(d, doc) && doc.spec?.scaleTargetRef?.kind === 'Deployment' && d.metadata?.name === doc.spec?.scaleTargetRef?.name)
        : deployments.some(({ doc: d }) => inNamespace(d, doc) && selects(doc.spec?.selector?.matchLabels, podLabels(d)));
    if (!found) fail(where(located), 'targets no Deployment defined here');
  }
}

// Every SmartLine service: Deployment (its argument, its default port), Service on that port, HPA.
for (const name of SERVICE_NAMES) {
  const deployment = deployments.find(({ doc }) => doc.metadata?.name === name);
  const service = ofKind('Service').find(({ doc }) => doc.metadata?.name === name);
  const hpa = ofKind('HorizontalPodAutoscaler').find(({ doc }) => doc.spec?.scaleTargetRef?.name === name);
  if (!deployment || !service || !hpa) {
    fail(name, `needs a Deployment, a Service and a HorizontalPodAutoscaler (found ${[deployment && 'Deployment', service && 'Service', hpa && 'HPA'].filter(Boolean).join(', ') || 'none'})`);
    continue;
  }
  const container = containersOf(deployment.doc)[0] ?? {};
  const port = DEFAULT_PORTS[name];
  if (JSON.stringify(container.args) !== JSON.stringify([name])) fail(where(deployment), `container args must be ["${name}"]`);
  if ((container.env ?? []).find((v: any) => v.name === 'PORT')?.value !== String(port)) fail(where(deployment), `env PORT must be "${port}"`);
  if (!(container.ports ?? []).some((p: any) => p.containerPort === port)) fail(where(deployment), `must declare containerPort ${port}`);
  if (!(service.doc.spec?.ports ?? []).some((p: any) => p.port === port)) fail(where(service), `must expose port ${port}`);
}

// 3. The kustomization lists every manifest, and nothing else.
if (kustomization) {
  const listed = [...(kustomization.doc.resources ?? [])].sort();
  const expected = files.filter((file) => file !== KUSTOMIZATION && !file.startsWith(`${ONE_OFF_DIR}/`)).sort();
  if (JSON.stringify(listed) !== JSON.stringify(expected)) fail(KUSTOMIZATION, `resources ${JSON.stringify(listed)} must be exactly ${JSON.stringify(expected)}`);
}

if (problems.length > 0) {
  console.error(`k8s manifests are invalid:\n  ${problems.join('\n  ')}`);
  process.exit(1);
}
const kinds = Object.entries(Object.groupBy(manifests, ({ doc }) => doc.kind ?? '?')).map(([kind, list]) => `${list?.length} ${kind}`);
console.log(`${path.basename(dir)}/: ${manifests.length} objects in ${files.length} files valid against the Kubernetes schemas (${kinds.join(', ')})`);
console.log(`secrets to create before applying: ${[...requiredSecrets].sort().join(', ') || 'none'}`);

async function loadModel(apiVersion: string, kind: string): Promise<(new (data: unknown) => { validate(): void }) | undefined> {
  try {
    const module: Record<string, unknown> = await import(`kubernetes-models/${apiVersion}`);
    const Model = module[kind] as (new (data: unknown) => { validate(): void }) & { apiVersion?: string; kind?: string } | undefined;
    return Model?.apiVersion === apiVersion && Model.kind === kind ? Model : undefined;
  } catch {
    return undefined;
  }
}
