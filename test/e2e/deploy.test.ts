/**
 * Issue 16, the deployment descriptions: k8s/ (kustomize base, deps, overlays), the Prometheus
 * alerts and the Grafana dashboard (deploy/). No cluster, no kustomize and no Grafana here, so:
 *
 * - each overlay is rendered by {@link render}, the subset of kustomize the overlays use
 *   (resources: files and directories; namespace; images; patches given by `path`, one
 *   strategic-merge patch per file, its target named by its kind and metadata.name; lists of named items merge
 *   by name, other lists are replaced). A kustomization with any other field fails the test, so
 *   the subset cannot drift from what the files use. Every object is validated with
 *   kubernetes-models (its OpenAPI schema: types, formats, required fields; it does not reject
 *   unknown fields), then checked for the consistency kubectl would only show on a cluster:
 *   selectors, ports, probes, roles, ConfigMap keys and values against the node's own
 *   configuration schema.
 * - yamllint -s (.yamllint) on k8s/ and deploy/; promtool check rules and test rules on the alerts;
 *   the committed dashboard JSON equals the generator's output, the generator type-checks, and
 *   each panel's PromQL passes promtool (each expression wrapped in a recording rule).
 * - every metric the alerts, the dashboard and the HPA use is served by a live node's /metrics.
 *
 * yamllint and promtool are Debian packages (yamllint, prometheus); .ci/run installs them. When
 * one is missing the test fails, naming the package.
 */
import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { parse, parseAllDocuments } from "yaml";
import { ConfigError, configKeys, loadConfig } from "../../config";
import { handOverTestNode, ROOT, startNodeProcess, type NodeProcess } from "../support/node-process";

const K8S = path.join(ROOT, "k8s");
const PROMETHEUS = path.join(ROOT, "deploy/prometheus");
const GRAFANA = path.join(ROOT, "deploy/grafana");
const OVERLAYS = ["dev", "prod"] as const;

type Obj = Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any

interface RunResult {
  code: number;
  stdout: string;
  stderr: string;
}

/** Runs a command to its end (never throws for a non-zero exit). @throws when it cannot start. */
function run(cmd: string, args: string[], opts: { cwd?: string; timeoutMs?: number } = {}): Promise<RunResult> {
  return new Promise((resolve, reject) => {
    execFile(cmd, args, { cwd: opts.cwd ?? ROOT, timeout: opts.timeoutMs ?? 120_000, maxBuffer: 32 * 1024 * 1024 }, (err, stdout, stderr) => {
      if (err && typeof err.code === "string") return reject(err); // ENOENT, EACCES: did not start
      resolve({ code: err ? Number(err.code ?? 1) : 0, stdout, stderr });
    });
  });
}

/** A Debian-packaged tool this test needs. @throws naming the package when it is not installed. */
async function tool(bin: string, debianPackage: string): Promise<string> {
  for (const dir of (process.env.PATH ?? "").split(":")) {
    const candidate = path.join(dir, bin);
    try {
      fs.accessSync(candidate, fs.constants.X_OK);
      return candidate;
    } catch {
      // not in this directory
    }
  }
  throw new Error(`${bin} is not installed: install the Debian package "${debianPackage}" (apt-get install -y ${debianPackage}; .ci/run does)`);
}

function assertRan(r: RunResult, what: string): void {
  assert.equal(r.code, 0, `${what} failed (exit ${r.code}):\n${r.stdout}\n${r.stderr}`);
}

// ---------------------------------------------------------------------------------------------
// the subset of kustomize the overlays use

const KUSTOMIZATION_FIELDS = new Set(["apiVersion", "kind", "resources", "namespace", "images", "patches"]);
const CLUSTER_SCOPED = new Set(["Namespace", "ClusterRole", "ClusterRoleBinding", "PersistentVolume", "StorageClass", "CustomResourceDefinition"]);

function readDocs(file: string): Obj[] {
  return parseAllDocuments(fs.readFileSync(file, "utf8")).map((doc) => {
    if (doc.errors.length > 0) throw new Error(`${file}: ${doc.errors.map((e) => e.message).join("; ")}`);
    return doc.toJS() as Obj;
  }).filter((o) => o !== null);
}

const isMap = (v: unknown): v is Obj => typeof v === "object" && v !== null && !Array.isArray(v);

/** Strategic-merge subset: maps merge, lists of named items merge by name, null deletes, the rest replaces. */
function merge(target: Obj, patch: Obj): void {
  for (const [key, value] of Object.entries(patch)) {
    const current = target[key];
    if (value === null) delete target[key];
    else if (isMap(current) && isMap(value)) merge(current, value);
    else if (Array.isArray(current) && Array.isArray(value) && value.every((v) => isMap(v) && typeof v.name === "string")) {
      for (const item of value as Obj[]) {
        const same = (current as Obj[]).find((c) => isMap(c) && c.name === item.name);
        if (same) merge(same, item);
        else current.push(structuredClone(item));
      }
    } else target[key] = structuredClone(value);
  }
}

const containersOf = (o: Obj): Obj[] => [...(o.spec?.template?.spec?.containers ?? []), ...(o.spec?.template?.spec?.initContainers ?? [])];

/** The objects `kubectl apply -k dir` would send, for the kustomize subset above. */
function render(dir: string): Obj[] {
  const file = path.join(dir, "kustomization.yaml");
  const k = parse(fs.readFileSync(file, "utf8")) as Obj;
  for (const field of Object.keys(k)) if (!KUSTOMIZATION_FIELDS.has(field)) throw new Error(`${file}: field "${field}" is outside the kustomize subset test/e2e/deploy.test.ts renders`);
  assert.equal(k.kind, "Kustomization", file);
  const objects: Obj[] = [];
  for (const resource of (k.resources ?? []) as string[]) {
    const p = path.resolve(dir, resource);
    objects.push(...(fs.statSync(p).isDirectory() ? render(p) : readDocs(p)));
  }
  for (const patch of (k.patches ?? []) as Obj[]) {
    assert.deepEqual(Object.keys(patch), ["path"], `${file}: only patches given by path are rendered here`);
    const docs = readDocs(path.resolve(dir, patch.path));
    assert.equal(docs.length, 1, `${file}: ${patch.path}: one patch per file`);
    for (const doc of docs) {
      const target = objects.find((o) => o.kind === doc.kind && o.metadata?.name === doc.metadata?.name);
      assert.ok(target, `${file}: patch ${patch.path} targets ${doc.kind}/${doc.metadata?.name}, which is not among the resources`);
      assert.equal(target.apiVersion, doc.apiVersion, `${patch.path}: apiVersion of ${doc.kind}/${doc.metadata.name}`);
      merge(target, doc);
    }
  }
  for (const image of (k.images ?? []) as Obj[]) {
    for (const c of objects.flatMap(containersOf)) {
      const [name, tag] = String(c.image).split(":");
      if (name === image.name) c.image = `${image.newName ?? name}:${image.newTag ?? tag ?? "latest"}`;
    }
  }
  if (k.namespace) for (const o of objects) if (!CLUSTER_SCOPED.has(o.kind)) o.metadata.namespace = k.namespace;
  const seen = new Set<string>();
  for (const o of objects) {
    const id = `${o.kind}/${o.metadata?.namespace ?? ""}/${o.metadata?.name}`;
    assert.ok(!seen.has(id), `${file}: ${id} appears twice`);
    seen.add(id);
  }
  return objects;
}

/** Validates `o` against its kind's schema in kubernetes-models. @throws with the schema's complaints. */
async function validate(o: Obj, where: string): Promise<void> {
  assert.match(String(o.apiVersion), /^([a-z0-9.-]+\/)?v\d+(alpha\d+|beta\d+)?$/, `${where}: apiVersion`);
  // kubernetes-models 5 is ESM only: loaded with import() (tsx), by a computed specifier
  const mod = (await import(`kubernetes-models/${o.apiVersion}`)) as Record<string, new (data: Obj) => { validate(): void }>;
  const Model = mod[o.kind];
  assert.ok(Model, `${where}: kubernetes-models has no ${o.apiVersion} ${o.kind}`);
  try {
    new Model(o).validate();
  } catch (err) {
    throw new Error(`${where}: ${o.kind}/${o.metadata?.name} does not validate: ${(err as Error).message}`);
  }
}

const byKind = (objects: Obj[], kind: string) => objects.filter((o) => o.kind === kind);
const named = (objects: Obj[], kind: string, name: string): Obj => {
  const o = objects.find((x) => x.kind === kind && x.metadata?.name === name);
  assert.ok(o, `${kind}/${name} is missing`);
  return o;
};
const matches = (selector: Obj, labels: Obj): boolean => Object.entries(selector).every(([k, v]) => labels?.[k] === v);
const workloads = (objects: Obj[]) => objects.filter((o) => ["Deployment", "StatefulSet"].includes(o.kind));

/** The node's configuration as a pod of `deployment` would load it, with `secret`'s data. */
function podConfig(objects: Obj[], deployment: Obj, secret: Obj) {
  const c = deployment.spec.template.spec.containers[0];
  const env: Record<string, string> = {};
  for (const from of c.envFrom ?? []) {
    if (from.configMapRef) Object.assign(env, named(objects, "ConfigMap", from.configMapRef.name).data);
    if (from.secretRef) {
      assert.equal(from.secretRef.name, secret.metadata.name);
      Object.assign(env, secret.stringData ?? {});
    }
  }
  for (const e of c.env ?? []) env[e.name] = e.value ?? "pod-name-from-the-downward-api";
  const args = c.args as string[];
  const services = args[args.indexOf("--services") + 1];
  return { env, services, load: () => loadConfig(env, { services }) };
}

// ---------------------------------------------------------------------------------------------
// PromQL in the alerts, the dashboard and the adapter

const alertsFile = path.join(PROMETHEUS, "alerts.yml");
const dashboardFile = path.join(GRAFANA, "veza-stream.json");

function alertRules(): Obj[] {
  return ((parse(fs.readFileSync(alertsFile, "utf8")) as Obj).groups as Obj[]).flatMap((g) => g.rules as Obj[]);
}

/** Every query of the committed dashboard, with its panel. */
function dashboardQueries(): Array<{ panel: string; refId: string; expr: string }> {
  const dashboard = JSON.parse(fs.readFileSync(dashboardFile, "utf8")) as Obj;
  const panels = (dashboard.panels as Obj[]).flatMap((p) => [p, ...((p.panels as Obj[] | undefined) ?? [])]);
  return panels.flatMap((p) => ((p.targets as Obj[] | undefined) ?? []).map((t) => ({ panel: `${p.id} ${p.title}`, refId: String(t.refId), expr: String(t.expr) })));
}

/** Grafana's variables replaced by values PromQL accepts. */
function withoutGrafanaVariables(expr: string): string {
  const out = expr.replaceAll("$__rate_interval", "1m").replaceAll("$__interval", "1m").replaceAll("$__range", "1h").replaceAll("$job", "veza-stream");
  assert.ok(!out.includes("$"), `a Grafana variable this test does not know: ${expr}`);
  return out;
}

const metricNames = (expr: string): string[] => [...expr.matchAll(/\b(veza_[a-zA-Z0-9_]+|up)\b(?=\s*[{[)\s]|$)/g)].map((m) => m[1]!);

// ---------------------------------------------------------------------------------------------

describe("deployment descriptions: k8s/, alerts, dashboard (issue 16)", function () {
  this.timeout(120_000);

  const rendered = new Map<string, Obj[]>();
  before(() => {
    for (const overlay of OVERLAYS) rendered.set(overlay, render(path.join(K8S, "overlays", overlay)));
  });
  const objects = (overlay: string): Obj[] => rendered.get(overlay)!;

  for (const overlay of OVERLAYS) {
    it(`overlay ${overlay}: every rendered object validates with kubernetes-models`, async () => {
      const all = objects(overlay);
      const kinds = new Set(all.map((o) => o.kind));
      for (const kind of ["Namespace", "ConfigMap", "Deployment", "Service", "HorizontalPodAutoscaler", "PodDisruptionBudget", "NetworkPolicy", "StatefulSet"]) assert.ok(kinds.has(kind), `${overlay} renders no ${kind}`);
      for (const o of all) await validate(o, `overlay ${overlay}`);
      const namespace = named(all, "Namespace", overlay === "prod" ? "veza" : "veza-dev").metadata.name;
      for (const o of all) if (o.kind !== "Namespace") assert.equal(o.metadata.namespace, namespace, `${o.kind}/${o.metadata.name} namespace`);
    });

    it(`overlay ${overlay}: roles, probes, preStop, resources, security, selectors and ports agree`, () => {
      const all = objects(overlay);
      const gateway = named(all, "Deployment", "veza-gateway");
      const worker = named(all, "Deployment", "veza-worker");
      const expectRole = (d: Obj, services: string) => assert.deepEqual(d.spec.template.spec.containers[0].args, ["start", "--services", services], `${d.metadata.name} args`);
      expectRole(gateway, "gateway,relay");
      expectRole(worker, "stream,encoder");
      const g = gateway.spec.template.spec.containers[0];
      assert.deepEqual(g.ports.map((p: Obj) => [p.name, p.containerPort, p.protocol]), [["http", 8080, "TCP"], ["icecast", 8000, "TCP"], ["srt", 8890, "UDP"]]);
      const srt = named(all, "Service", "veza-gateway-srt");
      assert.equal(srt.spec.type, "LoadBalancer", "SRT is UDP: most Ingress controllers carry none");
      assert.equal(srt.spec.sessionAffinity, "ClientIP", "a caller's packets stay on one gateway");
      assert.equal(g.readinessProbe.httpGet.path, "/ready");
      assert.equal(g.livenessProbe.httpGet.path, "/health");
      assert.equal(g.readinessProbe.httpGet.port, "http");
      for (const d of [gateway, worker]) {
        const spec = d.spec.template.spec;
        const c = spec.containers[0];
        assert.match(c.image, /^veza-stream:/, `${d.metadata.name}: the image veza-stream, named by kustomize's images:`);
        assert.ok(c.lifecycle?.preStop?.exec?.command?.[0] === "sleep", `${d.metadata.name}: preStop sleep`);
        assert.ok(spec.terminationGracePeriodSeconds > Number(c.lifecycle.preStop.exec.command[1]), `${d.metadata.name}: grace period longer than the preStop sleep`);
        assert.ok(c.resources?.requests?.cpu && c.resources?.requests?.memory && c.resources?.limits?.memory, `${d.metadata.name}: resources`);
        assert.equal(spec.securityContext.runAsNonRoot, true, `${d.metadata.name}: runAsNonRoot`);
        assert.ok(spec.securityContext.runAsUser > 0, `${d.metadata.name}: a non-root uid`);
        assert.equal(c.securityContext.allowPrivilegeEscalation, false);
        assert.deepEqual(c.securityContext.capabilities.drop, ["ALL"]);
        assert.equal(spec.enableServiceLinks, false, `${d.metadata.name}: no docker-link variables`);
      }
      for (const w of workloads(all)) {
        assert.ok(matches(w.spec.selector.matchLabels, w.spec.template.metadata.labels), `${w.kind}/${w.metadata.name}: selector matches its pods`);
        for (const c of containersOf(w)) {
          const ports = new Set((c.ports ?? []).map((p: Obj) => p.name));
          for (const probe of [c.readinessProbe, c.livenessProbe, c.startupProbe]) if (probe?.httpGet) assert.ok(ports.has(probe.httpGet.port), `${w.metadata.name}: probe port ${probe.httpGet.port}`);
        }
      }
      for (const s of byKind(all, "Service")) {
        const pods = workloads(all).filter((w) => matches(s.spec.selector, w.spec.template.metadata.labels));
        assert.ok(pods.length > 0, `Service/${s.metadata.name} selects no pods`);
        for (const p of s.spec.ports) {
          const served = pods.some((w) => containersOf(w).some((c) => (c.ports ?? []).some((cp: Obj) => cp.name === p.targetPort && cp.protocol === p.protocol)));
          assert.ok(served, `Service/${s.metadata.name} port ${p.name}: no container port named ${p.targetPort}`);
        }
      }
      for (const ss of byKind(all, "StatefulSet")) named(all, "Service", ss.spec.serviceName);
      for (const hpa of byKind(all, "HorizontalPodAutoscaler")) {
        const target = named(all, hpa.spec.scaleTargetRef.kind, hpa.spec.scaleTargetRef.name);
        assert.ok(hpa.spec.minReplicas <= hpa.spec.maxReplicas);
        assert.ok(hpa.spec.metrics.some((m: Obj) => m.type === "Resource" && m.resource.name === "cpu"), `HPA ${hpa.metadata.name} on CPU`);
        assert.equal(target.spec.replicas, hpa.spec.minReplicas, `${overlay}: ${target.metadata.name} starts at its HPA's minReplicas`);
      }
      const pods = named(all, "HorizontalPodAutoscaler", "veza-gateway").spec.metrics.find((m: Obj) => m.type === "Pods");
      assert.equal(pods?.pods.metric.name, "veza_listeners", "gateways scale on listeners per pod");
      for (const pdb of byKind(all, "PodDisruptionBudget")) assert.ok(workloads(all).some((w) => matches(pdb.spec.selector.matchLabels, w.spec.template.metadata.labels)), `PDB ${pdb.metadata.name} selects no pods`);
      for (const np of byKind(all, "NetworkPolicy")) assert.ok(workloads(all).some((w) => matches(np.spec.podSelector.matchLabels, w.spec.template.metadata.labels)), `NetworkPolicy ${np.metadata.name} selects no pods`);
    });

    it(`overlay ${overlay}: the ConfigMap and Secret hold configuration keys the node accepts`, () => {
      const all = objects(overlay);
      const known = new Set(configKeys().map((k) => k.env));
      for (const key of Object.keys(named(all, "ConfigMap", "veza-config").data)) assert.ok(known.has(key), `veza-config: ${key} is not a configuration variable (README, "Configuration")`);
      // prod does not apply its Secret: it is created from the example (never in git with a key)
      const secret = overlay === "prod" ? readDocs(path.join(K8S, "overlays/prod/secret.example.yaml"))[0]! : named(all, "Secret", "veza-secrets");
      assert.ok(!all.some((o) => o.kind === "Secret") || overlay !== "prod", "prod applies no Secret");
      for (const d of [named(all, "Deployment", "veza-gateway"), named(all, "Deployment", "veza-worker")]) {
        const cfg = podConfig(all, d, { ...secret, stringData: { ...secret.stringData, ...(overlay === "prod" ? { JWT_SECRET: "x".repeat(32) } : {}) } });
        for (const name of Object.keys(cfg.env)) if (!name.startsWith("S3_") && !name.startsWith("AWS_")) assert.ok(known.has(name), `${d.metadata.name}: ${name} is not a configuration variable`);
        const config = cfg.load();
        assert.equal(config.natsUrl, "nats://nats:4222");
        assert.equal(config.redisUrl, "redis://redis:6379");
        assert.equal(config.logFormat, "json");
        assert.equal(config.namespace, overlay === "prod" ? "veza" : "veza-dev");
        named(all, "Service", "nats");
        named(all, "Service", "redis");
      }
      if (overlay === "prod") {
        // the example's placeholder key must stop the node rather than run with a known key
        const cfg = podConfig(all, named(all, "Deployment", "veza-gateway"), secret);
        assert.throws(() => cfg.load(), (err: Error) => err instanceof ConfigError && /JWT_SECRET/.test(err.message));
      }
    });
  }

  it("objects outside the overlays validate: the prod Secret example, the Prometheus Adapter rule", async () => {
    const secret = readDocs(path.join(K8S, "overlays/prod/secret.example.yaml"));
    const adapter = readDocs(path.join(K8S, "prometheus-adapter/adapter-config.yaml"));
    for (const o of [...secret, ...adapter]) await validate(o, "k8s/");
    const rules = (parse(adapter[0]!.data["config.yaml"]) as Obj).rules as Obj[];
    const rule = rules.find((r) => r.name?.as === "veza_listeners");
    assert.ok(rule, "an adapter rule serves veza_listeners");
    assert.match(rule.seriesQuery, /^veza_listeners\{/);
    assert.deepEqual(rule.resources.overrides, { namespace: { resource: "namespace" }, pod: { resource: "pod" } });
  });

  it("yamllint -s passes on k8s/ and deploy/", async () => {
    const yamllint = await tool("yamllint", "yamllint");
    assertRan(await run(yamllint, ["-s", "-c", path.join(ROOT, ".yamllint"), "k8s", "deploy"]), "yamllint -s k8s deploy");
  });

  it("promtool: the alert rules check, and their unit tests pass (every alert tested)", async () => {
    const promtool = await tool("promtool", "prometheus");
    assertRan(await run(promtool, ["check", "rules", "alerts.yml"], { cwd: PROMETHEUS }), "promtool check rules alerts.yml");
    assertRan(await run(promtool, ["test", "rules", "alerts.test.yml"], { cwd: PROMETHEUS }), "promtool test rules alerts.test.yml");
    const tests = (parse(fs.readFileSync(path.join(PROMETHEUS, "alerts.test.yml"), "utf8")) as Obj).tests as Obj[];
    const fired = new Set(tests.flatMap((t) => (t.alert_rule_test as Obj[]).filter((a) => (a.exp_alerts as Obj[]).length > 0).map((a) => a.alertname)));
    for (const rule of alertRules()) assert.ok(fired.has(rule.alert), `alert ${rule.alert} has no test in which it fires`);
  });

  it("the committed dashboard JSON is what deploy/grafana/dashboard.ts generates, and the generator type-checks", async () => {
    const generated = await run(process.execPath, ["--require", "tsx/cjs", path.join(GRAFANA, "dashboard.ts"), "--stdout"]);
    assertRan(generated, "deploy/grafana/dashboard.ts --stdout");
    assert.ok(generated.stdout === fs.readFileSync(dashboardFile, "utf8"), "deploy/grafana/veza-stream.json is stale: run `npx tsx deploy/grafana/dashboard.ts` and commit it");
    assertRan(await run(process.execPath, [path.join(ROOT, "node_modules/typescript/bin/tsc"), "--noEmit", "-p", GRAFANA]), "tsc -p deploy/grafana");
    const dashboard = JSON.parse(generated.stdout) as Obj;
    const ids = (dashboard.panels as Obj[]).map((p) => p.id);
    assert.equal(new Set(ids).size, ids.length, "panel ids are unique");
  });

  it("promtool: every dashboard query is valid PromQL", async () => {
    const promtool = await tool("promtool", "prometheus");
    const queries = dashboardQueries();
    assert.ok(queries.length >= 15, `only ${queries.length} queries`);
    const rules = queries.map((q, i) => ({ record: `veza_dashboard:query_${i}`, expr: withoutGrafanaVariables(q.expr) }));
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), "veza-dashboard-promql-"));
    try {
      const file = path.join(dir, "dashboard-queries.yml");
      fs.writeFileSync(file, JSON.stringify({ groups: [{ name: "dashboard", rules }] }, null, 2));
      const r = await run(promtool, ["check", "rules", file]);
      assertRan(r, `promtool check rules on the dashboard's queries (${queries.map((q) => q.panel).join(", ")})`);
      assert.match(r.stdout, new RegExp(`SUCCESS: ${rules.length} rules found`));
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });

  describe("metric names", () => {
    let node: NodeProcess | undefined;
    after(async () => node?.stop());

    it("every metric the alerts, the dashboard and the gateway HPA use is served by a live node's /metrics", async () => {
      const used = new Map<string, string>(); // metric → where
      for (const rule of alertRules()) for (const m of metricNames(rule.expr)) used.set(m, `alert ${rule.alert}`);
      for (const q of dashboardQueries()) for (const m of metricNames(q.expr)) used.set(m, `dashboard panel ${q.panel}`);
      for (const overlay of OVERLAYS) used.set(named(objects(overlay), "HorizontalPodAutoscaler", "veza-gateway").spec.metrics.find((m: Obj) => m.type === "Pods").pods.metric.name, "gateway HPA");
      for (const m of ["veza_listeners", "veza_encoder_restarts_total", "veza_listeners_dropped_total", "veza_relay_reconnects_total", "veza_frames_dropped_total", "veza_process_cpu_seconds_total", "veza_process_resident_memory_bytes"]) assert.ok(used.has(m), `${m} is used somewhere`);
      used.delete("up"); // Prometheus's own, per target
      node = handOverTestNode(await startNodeProcess([], { LOG_FORMAT: "json" }));
      const res = await fetch(`${node.http}/metrics`);
      assert.equal(res.status, 200);
      const served = new Set((await res.text()).split("\n").filter((l) => l && !l.startsWith("#")).map((l) => /^[a-zA-Z_:][a-zA-Z0-9_:]*/.exec(l)?.[0]));
      const missing = [...used].filter(([m]) => !served.has(m)).map(([m, where]) => `${m} (${where})`);
      assert.deepEqual(missing, [], "metrics used but not served by a node");
    });
  });
});
