/**
 * Loads one of our native addons (the libsrt and librist bindings, built by bin/build-native.js
 * into `<dir>/build/Release/<name>.node`) at most once, and says why when it cannot: not built (the
 * library's Debian headers were missing at `npm install`), or built but not loadable.
 */
import fs from "node:fs";
import path from "node:path";

/** The repository root: the nearest folder up with package.json (this code is also bundled into dist/bin/*.js). */
function root(): string {
  let dir = __dirname;
  while (!fs.existsSync(path.join(dir, "package.json")) && path.dirname(dir) !== dir) dir = path.dirname(dir);
  return dir;
}

export interface AddonSpec<T> {
  /** From the repository root, e.g. `transports/srt/native`. */
  dir: string;
  /** The addon's file name without `.node`. */
  name: string;
  /** The library, for messages: `libsrt`. */
  library: string;
  /** What to install for it: `libsrt-openssl-dev`. */
  debianPackage: string;
  /** Called once with the loaded addon (start its event thread…); may throw. */
  init(addon: T): void;
}

/** A lazily loaded addon: {@link get} returns it, or null with the reason in {@link unavailable}. */
export class NativeAddon<T> {
  private addon: T | null = null;
  private error: string | null = null;

  constructor(private readonly spec: AddonSpec<T>) {}

  get(): T | null {
    if (this.addon || this.error) return this.addon;
    const file = path.join(root(), this.spec.dir, "build/Release", `${this.spec.name}.node`);
    try {
      const m = { exports: {} as T };
      process.dlopen(m, file);
      this.spec.init(m.exports);
      this.addon = m.exports;
    } catch (err) {
      this.error = fs.existsSync(file)
        ? `the ${this.spec.library} binding does not load: ${(err as Error).message}`
        : `the ${this.spec.library} binding is not built (apt-get install ${this.spec.debianPackage} pkg-config, then npm run build:native)`;
    }
    return this.addon;
  }

  /** Why the addon is not available here, or null when it is. */
  unavailable(): string | null {
    this.get();
    return this.error;
  }

  /** The addon. @throws Error with {@link unavailable}'s reason. */
  need(): T {
    const a = this.get();
    if (!a) throw new Error(this.error ?? `${this.spec.library} is not available`);
    return a;
  }
}
