/**
 * ICY metadata (SHOUTcast/Icecast in-band titles), pure: a listener that asked with
 * `Icy-MetaData: 1` gets, after every `metaint` bytes of audio, one metadata block: a length byte
 * N, then N × 16 bytes holding `StreamTitle='…';` padded with NULs. A block whose title has not
 * changed since the last one is the single byte 0, as Icecast 2.4 sends it. Titles are UTF-8,
 * at most 255 × 16 bytes with the frame, single quotes kept as they are (as Icecast does).
 */

/** Icecast's default `icy-metaint`: audio bytes between two metadata blocks. */
export const DEFAULT_METAINT = 16_000;

/** One metadata block for `title`: length byte, then `StreamTitle='…';` padded to a multiple of 16. */
export function icyBlock(title: string): Uint8Array {
  let text = Buffer.from(`StreamTitle='${title}';`, "utf8");
  if (text.length > 255 * 16) text = Buffer.concat([Buffer.from(`StreamTitle='`), Buffer.from(title, "utf8").subarray(0, 255 * 16 - 16), Buffer.from("';")]);
  const n = Math.ceil(text.length / 16);
  const out = new Uint8Array(1 + n * 16);
  out[0] = n;
  out.set(text, 1);
  return out;
}

/** Interleaves one listener's audio bytes with metadata blocks every `metaint` bytes. */
export class IcyInterleaver {
  /** Audio bytes still to go before the next metadata block. */
  private untilMeta: number;
  /** The title in the last block sent (null: none sent yet). */
  private sentTitle: string | null = null;

  constructor(readonly metaint = DEFAULT_METAINT) {
    this.untilMeta = metaint;
  }

  /** The bytes to send for `audio`, with a block for `title` wherever a metadata point falls. */
  write(audio: Uint8Array, title: string): Uint8Array[] {
    const out: Uint8Array[] = [];
    let at = 0;
    while (audio.length - at >= this.untilMeta) {
      out.push(audio.subarray(at, at + this.untilMeta));
      at += this.untilMeta;
      this.untilMeta = this.metaint;
      if (title === this.sentTitle) out.push(EMPTY_BLOCK);
      else {
        out.push(icyBlock(title));
        this.sentTitle = title;
      }
    }
    if (at < audio.length) {
      out.push(audio.subarray(at));
      this.untilMeta -= audio.length - at;
    }
    return out;
  }
}

const EMPTY_BLOCK = new Uint8Array([0]);
