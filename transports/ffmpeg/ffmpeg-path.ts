/**
 * Which ffmpeg binary to run: FFMPEG_PATH if set, else `ffmpeg` on PATH, else the static build
 * shipped inside the npm package @ffmpeg-installer/ffmpeg (so `npm install` is enough).
 */
import fs from "node:fs";
import path from "node:path";

function onPath(name: string): string | undefined {
  for (const dir of (process.env.PATH ?? "").split(path.delimiter)) {
    if (!dir) continue;
    const candidate = path.join(dir, name);
    try {
      fs.accessSync(candidate, fs.constants.X_OK);
      return candidate;
    } catch {
      // not here
    }
  }
  return undefined;
}

/** @throws Error when no ffmpeg can be found. */
export function resolveFfmpegPath(configured?: string): string {
  if (configured) return configured;
  const system = onPath("ffmpeg");
  if (system) return system;
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  const bundled = (require("@ffmpeg-installer/ffmpeg") as { path: string }).path;
  if (bundled && fs.existsSync(bundled)) return bundled;
  throw new Error("no ffmpeg: install it, or set FFMPEG_PATH");
}

/** ffprobe beside the chosen ffmpeg, else on PATH, else @ffprobe-installer/ffprobe. */
export function resolveFfprobePath(): string {
  const system = onPath("ffprobe");
  if (system) return system;
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  return (require("@ffprobe-installer/ffprobe") as { path: string }).path;
}
