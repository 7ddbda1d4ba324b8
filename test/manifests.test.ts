/** The Kubernetes artifacts users apply: Chaos Mesh experiments and the DaemonSet they target. */
import { describe, expect, test } from "bun:test";
import { readFileSync } from "node:fs";
import { parse } from "yaml";
import { crdDir, loadManifests, ownProblems, upstreamProblems } from "../chaos/mesh/validate";
import { ROOT } from "./helpers";

const manifests = loadManifests();

describe("chaos/mesh manifests", () => {
  test("cover pod-kill, CPU and memory stress, exporter network delay, store I/O latency and ENOSPC, and a Workflow on /readyz", () => {
    const kinds = manifests.map((m) => `${m.doc.kind}:${m.doc.spec.action ?? ""}`);
    expect(kinds).toEqual(expect.arrayContaining(["PodChaos:pod-kill", "StressChaos:", "NetworkChaos:delay", "IOChaos:latency", "IOChaos:fault", "Workflow:"]));
    const stress = manifests.find((m) => m.doc.kind === "StressChaos")!.doc.spec.stressors;
    expect(stress.cpu && stress.memory).toBeTruthy();
    expect(manifests.find((m) => m.doc.spec.action === "fault")!.doc.spec.errno).toBe(28);
  });
  test("pass the project's own schema of the fields they rely on", () => {
    expect(manifests.flatMap(ownProblems)).toEqual([]);
  });
  test("the own schema catches what upstream's webhooks would refuse", () => {
    const bad = { file: "x.yaml", doc: { apiVersion: "chaos-mesh.org/v1alpha1", kind: "IOChaos", metadata: { name: "x" }, spec: { action: "latency", mode: "fixed", selector: {}, delay: "100 millis", percent: 150 } } };
    const p = ownProblems(bad);
    expect(p.some((x) => x.includes("value is required with mode fixed"))).toBe(true);
    expect(p.some((x) => x.includes("volumePath is required"))).toBe(true);
    expect(p.some((x) => x.includes("percent must be 0..100"))).toBe(true);
    expect(p.some((x) => x.includes("delay must be a Go duration"))).toBe(true);
  });
  test("pass the upstream CRD schemas (when ../shared/vendor/chaos-mesh-crds is present)", () => {
    const p = upstreamProblems(manifests);
    if (p === null) {
      console.log("upstream Chaos Mesh CRDs not found (../shared/vendor/chaos-mesh-crds or VIGIL_CHAOS_MESH_CRDS): upstream check skipped; own schema checked above");
      return;
    }
    console.log(`checked against the upstream CRDs in ${crdDir()}`);
    expect(p).toEqual([]);
    // And the upstream schema does refuse a broken manifest (the check can fail).
    const broken = structuredClone(manifests.find((m) => m.doc.kind === "PodChaos")!);
    broken.doc.spec.action = 42;
    expect(upstreamProblems([broken])!.length).toBeGreaterThan(0);
  });
});

describe("DaemonSet", () => {
  const ds = parse(readFileSync(`${ROOT}/deploy/kubernetes/daemonset.yaml`, "utf8"));
  const c = ds.spec.template.spec.containers[0];
  test("least privilege: specific capabilities, not privileged; read-only root; no token automount", () => {
    expect(c.securityContext.privileged).not.toBe(true);
    expect(c.securityContext.allowPrivilegeEscalation).toBe(false);
    expect(c.securityContext.readOnlyRootFilesystem).toBe(true);
    expect(c.securityContext.capabilities.drop).toEqual(["ALL"]);
    expect(c.securityContext.capabilities.add).not.toContain("SYS_ADMIN");
    expect(c.securityContext.capabilities.add).toEqual(expect.arrayContaining(["BPF", "PERFMON"]));
    expect(ds.spec.template.spec.automountServiceAccountToken).toBe(false);
  });
  test("served over TLS with a read-only token beside the admin one", () => {
    const env = Object.fromEntries((c.env as { name: string; value?: string }[]).map((e) => [e.name, e]));
    expect(env.VIGIL_HOST!.value).toBe("0.0.0.0");
    expect(env.VIGIL_TLS_CERT && env.VIGIL_TLS_KEY).toBeTruthy();
    expect(env.VIGIL_ALLOW_PLAINTEXT).toBeUndefined();
    expect(env.VIGIL_READ_TOKEN).toBeTruthy();
    expect(c.readinessProbe.httpGet.scheme).toBe("HTTPS");
  });
  test("probes on /healthz and /readyz, requests and limits", () => {
    expect(c.livenessProbe.httpGet.path).toBe("/healthz");
    expect(c.readinessProbe.httpGet.path).toBe("/readyz");
    expect(c.resources.requests.memory).toBeTruthy();
    expect(c.resources.limits.memory).toBeTruthy();
    expect(c.resources.limits.cpu).toBeTruthy();
  });
});
