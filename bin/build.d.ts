/**
 * Types of bin/build.js (plain JavaScript: bin/veza-stream runs it before anything compiles
 * TypeScript) for the TypeScript that imports it; build.js itself is checked through its JSDoc by
 * tsconfig.scripts.json. Keep the two in step.
 */
/** The repository's root. */
export const ROOT: string;
/** dist/bin/cli.js: the compiled command line. */
export const NODE_ENTRY: string;
/** dist/bin/relay.js: the relay's own bundle (`veza-stream relay`). */
export const RELAY_ENTRY: string;
/** dist/bin/stamp.json: the sources the node build read. */
export const NODE_STAMP: string;
/** dist/web: the prebuilt browser client. */
export const WEB_DIR: string;
/** dist/web/manifest.json: the sources the web build read, and its files. */
export const WEB_MANIFEST: string;
/** Whether the build that wrote `stampFile` is current (every source it read unchanged). */
export function isCurrent(stampFile: string): boolean;
/** Builds dist/bin/cli.js, dist/bin/relay.js and their stamp. */
export function buildNode(): Promise<void>;
/** Runs `entry` (default dist/bin/cli.js) as the main module, with V8's code cache of it when there is one (written by an earlier run). */
export function runNode(entry?: string): void;
/** Builds dist/web/ and its manifest. */
export function buildWeb(): Promise<void>;
/** Builds the browser client in memory: files by name under /assets/, and the source files read. */
export function buildWebFiles(outdir: string): Promise<{ files: Map<string, Uint8Array>; inputs: string[] }>;
/** The prebuilt client's files (name under /assets/ → path) when dist/web is current, else null. */
export function prebuiltWebFiles(): Map<string, string> | null;
