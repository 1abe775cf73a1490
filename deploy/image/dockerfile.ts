/**
 * Reads the Dockerfile and its build context the way `docker build` does, for the checks that run
 * without a container engine (test/e2e/image.test.ts). Covers what this project's Dockerfile uses:
 * stages, line continuations, comments, `--flag=value` options, exec-form arrays, `ENV k=v` pairs,
 * and .dockerignore patterns without `!` exceptions.
 */
import fs from "node:fs";
import path from "node:path";

/** One instruction: its keyword upper-cased, its `--name=value` options, the rest as written. */
export interface Instruction {
  keyword: string;
  flags: Record<string, string>;
  args: string;
  /** 1-based line of the instruction's first line in the Dockerfile. */
  line: number;
}

/** One build stage: its base image, its `AS` name, its instructions after FROM. */
export interface Stage {
  image: string;
  name: string | undefined;
  from: Instruction;
  instructions: Instruction[];
}

/** The stages of a Dockerfile, in order. @throws Error on an instruction before the first FROM. */
export function parseDockerfile(text: string): Stage[] {
  const stages: Stage[] = [];
  const lines = text.split("\n");
  for (let i = 0; i < lines.length; i++) {
    const start = i;
    let line = lines[i]!.trim();
    if (line === "" || line.startsWith("#")) continue;
    // continuation lines; comment lines inside an instruction are dropped, as Docker does
    while (line.endsWith("\\") && i + 1 < lines.length) {
      line = line.slice(0, -1);
      const next = lines[++i]!.trim();
      if (!next.startsWith("#")) line += ` ${next}`;
    }
    const match = /^(\S+)\s*(.*)$/.exec(line)!;
    const instruction = withFlags(match[1]!.toUpperCase(), match[2]!.trim(), start + 1);
    if (instruction.keyword === "FROM") {
      const [image, as, name] = instruction.args.split(/\s+/);
      stages.push({ image: image!, name: as?.toUpperCase() === "AS" ? name : undefined, from: instruction, instructions: [] });
    } else if (stages.length === 0) {
      if (instruction.keyword !== "ARG") throw new Error(`line ${start + 1}: ${instruction.keyword} before the first FROM`);
    } else {
      stages.at(-1)!.instructions.push(instruction);
    }
  }
  return stages;
}

function withFlags(keyword: string, rest: string, line: number): Instruction {
  const flags: Record<string, string> = {};
  let args = rest;
  for (let m = /^--([\w-]+)=(\S+)\s*/.exec(args); m; m = /^--([\w-]+)=(\S+)\s*/.exec(args)) {
    flags[m[1]!] = m[2]!;
    args = args.slice(m[0].length);
  }
  return { keyword, flags, args, line };
}

/** The JSON array of an exec-form instruction (CMD, ENTRYPOINT, HEALTHCHECK's CMD), or null. */
export function execForm(args: string): string[] | null {
  if (!args.startsWith("[")) return null;
  const parsed = JSON.parse(args) as unknown;
  return Array.isArray(parsed) && parsed.every((s) => typeof s === "string") ? parsed : null;
}

/** `ENV a=1 b="two words"` as a map (the `ENV key value` form is not used here). */
export function envPairs(args: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const m of args.matchAll(/([\w.]+)=("([^"]*)"|\S+)/g)) out[m[1]!] = m[3] ?? m[2]!;
  return out;
}

/** The patterns of a .dockerignore. @throws Error on a `!` exception (not supported here). */
export function readDockerignore(file: string): string[] {
  if (!fs.existsSync(file)) return [];
  const patterns = fs.readFileSync(file, "utf8").split("\n").map((l) => l.trim()).filter((l) => l && !l.startsWith("#"));
  const bad = patterns.find((p) => p.startsWith("!"));
  if (bad) throw new Error(`.dockerignore: exceptions (${bad}) are not supported by this reader`);
  return patterns;
}

/** A path (relative, with /) is left out when a pattern matches it or one of its parent folders. */
export function ignoredBy(patterns: string[]): (relPath: string) => boolean {
  const res = patterns.map((p) => {
    const clean = path.posix.normalize(p.replace(/^\/+/, ""));
    const body = clean
      .split(/(\*\*|\*|\?)/)
      .map((part) => (part === "**" ? ".*" : part === "*" ? "[^/]*" : part === "?" ? "[^/]" : part.replace(/[.+^${}()|[\]\\]/g, "\\$&")))
      .join("");
    // `**/` also matches no folder at all (`**/*.log` matches `a.log`)
    return new RegExp(`^${body.replace(/\.\*\//g, "(?:.*/)?")}$`);
  });
  return (rel) => {
    const parts = rel.split("/");
    for (let n = 1; n <= parts.length; n++) {
      const prefix = parts.slice(0, n).join("/");
      if (res.some((re) => re.test(prefix))) return true;
    }
    return false;
  };
}

/** Every file of the build context `root` that `docker build` sends (relative paths with /). */
export function contextFiles(root: string): string[] {
  const ignored = ignoredBy(readDockerignore(path.join(root, ".dockerignore")));
  const out: string[] = [];
  const walk = (rel: string) => {
    for (const entry of fs.readdirSync(path.join(root, rel), { withFileTypes: true })) {
      const child = rel ? `${rel}/${entry.name}` : entry.name;
      if (ignored(child)) continue;
      if (entry.isDirectory()) walk(child);
      else out.push(child);
    }
  };
  walk("");
  return out.sort();
}
