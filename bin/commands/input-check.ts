/**
 * Checks a broadcast's input before anything connects: the file exists and is readable, ffprobe
 * finds an audio stream in it, and a `--send` that copies the codec (`ogg`, `mp3`) matches the
 * codec the file holds. Each refusal is an {@link InputError} whose message tells the user what to
 * do instead, rather than ffmpeg's own words after the stream went on air.
 */
import fs from "node:fs";
import ffmpeg from "fluent-ffmpeg";

/** A broadcast input that cannot be sent as asked; the message is for the user. */
export class InputError extends Error {
  override readonly name = "InputError";
}

/** Codecs each copying `--send` carries as they are (`-c copy`). */
const COPIED_CODECS: Partial<Record<string, readonly string[]>> = {
  ogg: ["vorbis", "opus", "flac", "speex"],
  mp3: ["mp3"],
};

/** Milliseconds ffprobe may take on one input. */
const PROBE_TIMEOUT_MS = 10_000;

/**
 * The input's first audio codec (`vorbis`, `mp3`, …).
 * @throws InputError when ffprobe cannot read it or it has no audio stream.
 */
export function probeAudioCodec(input: string, ffprobePath: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new InputError(`${input}: ffprobe did not answer within ${PROBE_TIMEOUT_MS / 1000} s`)), PROBE_TIMEOUT_MS);
    ffmpeg(input).setFfprobePath(ffprobePath).ffprobe((err: Error | null, data) => {
      clearTimeout(timer);
      if (err) {
        const why = err.message.split("\n").map((l) => l.trim()).filter((l) => l && !/^ffprobe exited/.test(l)).pop() ?? err.message;
        return reject(new InputError(`${input} is not audio ffmpeg can read (${why.slice(0, 200)})`));
      }
      const audio = data.streams.find((s) => s.codec_type === "audio");
      if (!audio?.codec_name) return reject(new InputError(`${input} has no audio stream`));
      resolve(audio.codec_name);
    });
  });
}

/**
 * Refuses an input that is missing or unreadable (`-`, standard input, and URLs are not checked).
 * @throws InputError naming the file and the reason.
 */
export function checkReadable(input: string): void {
  if (input === "-" || /^[a-z][a-z0-9+.-]*:\/\//i.test(input)) return;
  let stat: fs.Stats;
  try {
    stat = fs.statSync(input);
    fs.accessSync(input, fs.constants.R_OK);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    const why = code === "ENOENT" ? "no such file" : code === "EACCES" ? "permission denied" : String((err as Error).message);
    throw new InputError(`cannot read ${input}: ${why}`);
  }
  if (stat.isDirectory()) throw new InputError(`cannot read ${input}: it is a directory, not an audio file`);
}

/**
 * Checks that `input` can be broadcast with `send` (see the module doc).
 * @throws InputError with what to do instead.
 */
export async function checkBroadcastInput(input: string, send: string, ffprobePath: string): Promise<void> {
  checkReadable(input);
  if (input === "-") return;
  const codec = await probeAudioCodec(input, ffprobePath);
  const copied = COPIED_CODECS[send];
  if (!copied || copied.includes(codec)) return;
  const fits = Object.entries(COPIED_CODECS).filter(([, codecs]) => codecs?.includes(codec)).map(([s]) => ` or --send ${s}`).join("");
  throw new InputError(`--send ${send} copies the input's codec, but ${input} holds ${codec}; use --send opus (default)${fits}`);
}
