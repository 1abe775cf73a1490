/**
 * `npx tsx bench/fuzz/heap-diff.ts <before.heapsnapshot> <after.heapsnapshot> [top]`: what grew in
 * V8's heap between two snapshots (from `npm run bench:fuzz -- --heap-snapshots DIR`): objects
 * counted and summed (self size) by type and constructor or string kind, the largest growths first.
 * A leak in JavaScript shows here as a count that grows with the inputs (streams, sockets,
 * closures, timers); growth outside V8's heap does not show at all (bench/fuzz/memory.ts).
 */
import fs from "node:fs";

interface Snapshot {
  snapshot: { meta: { node_fields: string[]; node_types: [string[], ...unknown[]] } };
  nodes: number[];
  strings: string[];
}

/** Objects of `file` by `type:name` (names of strings and code cut to 40 characters): count and bytes. */
function aggregate(file: string): Map<string, { count: number; bytes: number }> {
  const s = JSON.parse(fs.readFileSync(file, "utf8")) as Snapshot;
  const fields = s.snapshot.meta.node_fields;
  const types = s.snapshot.meta.node_types[0];
  const [iType, iName, iSize] = ["type", "name", "self_size"].map((f) => fields.indexOf(f)) as [number, number, number];
  const out = new Map<string, { count: number; bytes: number }>();
  for (let i = 0; i < s.nodes.length; i += fields.length) {
    const type = types[s.nodes[i + iType]!] ?? "?";
    let name = s.strings[s.nodes[i + iName]!] ?? "?";
    if (type === "string" || type === "concatenated string" || type === "sliced string" || type === "code") name = type === "code" ? name.slice(0, 40) : "";
    const key = `${type}:${name}`;
    const e = out.get(key) ?? { count: 0, bytes: 0 };
    e.count++;
    e.bytes += s.nodes[i + iSize]!;
    out.set(key, e);
  }
  return out;
}

const [before, after, top = "40"] = process.argv.slice(2);
if (!before || !after) throw new Error("usage: heap-diff.ts <before.heapsnapshot> <after.heapsnapshot> [top]");
const a = aggregate(before);
const b = aggregate(after);
const rows = [...new Set([...a.keys(), ...b.keys()])].map((k) => {
  const x = a.get(k) ?? { count: 0, bytes: 0 };
  const y = b.get(k) ?? { count: 0, bytes: 0 };
  return { key: k, count: y.count - x.count, bytes: y.bytes - x.bytes, countAfter: y.count, bytesAfter: y.bytes };
});
const total = (m: Map<string, { bytes: number }>) => [...m.values()].reduce((n, e) => n + e.bytes, 0);
console.log(`total self size: ${(total(a) / 2 ** 20).toFixed(1)} MiB → ${(total(b) / 2 ** 20).toFixed(1)} MiB`);
for (const r of rows.sort((p, q) => q.bytes - p.bytes).slice(0, Number(top))) {
  console.log(`${(r.bytes / 1024).toFixed(0).padStart(8)} KiB ${String(r.count).padStart(8)} objects  (${(r.bytesAfter / 1024).toFixed(0)} KiB, ${r.countAfter} after)  ${r.key.slice(0, 100)}`);
}
