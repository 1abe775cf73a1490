/**
 * What a broadcaster sends: the microphone (getUserMedia, with echo cancellation, noise
 * suppression and automatic gain off, as music needs) or a local audio file decoded by the
 * browser and played from memory, optionally in a loop.
 */

export type SourceChoice = { kind: "microphone" } | { kind: "file"; file: Blob; loop: boolean };

export interface AudioSource {
  readonly node: AudioNode;
  /** Human-readable description ("Microphone: Default", "File: song.ogg"). */
  readonly label: string;
  /** Called once when a file source reaches its end (never for the microphone or a loop). */
  onEnded: (() => void) | null;
  stop(): void;
}

/** Opens the source in `ctx`. @throws DOMException (NotAllowedError, NotFoundError, EncodingError). */
export async function openSource(ctx: AudioContext, choice: SourceChoice): Promise<AudioSource> {
  if (choice.kind === "microphone") {
    const stream = await navigator.mediaDevices.getUserMedia({
      audio: { echoCancellation: false, noiseSuppression: false, autoGainControl: false, channelCount: { ideal: 2 } },
    });
    const track = stream.getAudioTracks()[0];
    const node = ctx.createMediaStreamSource(stream);
    return {
      node,
      label: `Microphone: ${track?.label || "default"}`,
      onEnded: null,
      stop: () => {
        for (const t of stream.getTracks()) t.stop();
        node.disconnect();
      },
    };
  }
  const buffer = await ctx.decodeAudioData(await choice.file.arrayBuffer());
  const node = ctx.createBufferSource();
  node.buffer = buffer;
  node.loop = choice.loop;
  const source: AudioSource = {
    node,
    label: `File: ${(choice.file as File).name ?? "audio"}`,
    onEnded: null,
    stop: () => {
      node.onended = null;
      node.stop();
      node.disconnect();
    },
  };
  node.onended = () => source.onEnded?.();
  node.start();
  return source;
}
