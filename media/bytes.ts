/** Byte-array helpers shared by the pure muxers (media/ogg, media/cmaf). */

/** One new array holding `parts` one after another (always a copy, even of a single part). */
export function concatBytes(parts: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.length;
  }
  return out;
}
