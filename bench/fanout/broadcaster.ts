/**
 * The bench broadcaster: publishes one stream of looped Opus packets as audio.data messages, one
 * every frame duration, on a schedule computed from its start time (frame k is due at
 * t0 + k × frameMs), so timer lateness never accumulates into drift; a late tick sends every frame
 * that is due, as an encoder that had buffered them would.
 */
import { DEFAULT_FRAME_SAMPLES, encodeAudioData } from "../../media/wire";
import { OP_BINARY, RawWsClient, type WsHandlers } from "./ws-client";

/** Called for each frame just before it is written: loop index, send time and lateness, ms. */
export type OnSent = (loopIndex: number, atMs: number, lateMs: number) => void;

export class Broadcaster {
  private timer: NodeJS.Timeout | null = null;
  private frame = 0;
  private t0 = 0;

  private constructor(private readonly client: RawWsClient) {}

  /**
   * Connects to ws://127.0.0.1:port/ws/publish/<streamId> with `token` (a publish token for the
   * stream, docs/security.md) as `Authorization: Bearer`, sends stream.start and waits for
   * stream.started. Resolves with the reply text.
   * @throws when the server refuses (e.g. the token), closes, replies otherwise, or does not reply within timeoutMs.
   */
  static connect(port: number, streamId: string, token: string, timeoutMs: number): Promise<{ broadcaster: Broadcaster; reply: string }> {
    return new Promise((resolve, reject) => {
      let settled = false;
      const done = (err: Error | null, reply = "") => {
        if (settled) return;
        settled = true;
        clearTimeout(timeout);
        if (err) {
          client.destroy();
          reject(err);
        } else resolve({ broadcaster: new Broadcaster(client), reply });
      };
      const handlers: WsHandlers = {
        open: () => client.sendText(JSON.stringify({ type: "stream.start", format: "opus", title: "bench" })),
        text: (buf, start, end) => {
          const reply = buf.toString("utf8", start, end);
          let type: unknown;
          try {
            type = (JSON.parse(reply) as { type?: unknown }).type;
          } catch {
            type = undefined;
          }
          if (type === "stream.started") done(null, reply);
          else if (!settled) done(new Error(`broadcaster: expected stream.started, got ${reply.slice(0, 300)}`));
        },
        binary: () => {},
        closed: (code, reason) => {
          if (!settled) done(new Error(`broadcaster closed (${code}) ${reason}`));
          else process.emitWarning(`broadcaster closed (${code}) ${reason}`);
        },
      };
      const client = new RawWsClient(port, `/ws/publish/${streamId}`, handlers, "127.0.0.1", { authorization: `Bearer ${token}` });
      const timeout = setTimeout(() => done(new Error(`broadcaster: no stream.started within ${timeoutMs} ms`)), timeoutMs);
    });
  }

  /** Starts sending `packets` in a loop, one every `frameMs`. */
  start(packets: readonly Buffer[], frameMs: number, onSent: OnSent): void {
    this.t0 = performance.now();
    const tick = (): void => {
      let now = performance.now();
      while (this.t0 + this.frame * frameMs <= now) {
        const index = this.frame % packets.length;
        const message = encodeAudioData({
          rendition: 0,
          flags: 0,
          seq: this.frame >>> 0,
          mediaTime: this.frame * DEFAULT_FRAME_SAMPLES,
          duration: DEFAULT_FRAME_SAMPLES,
          packet: packets[index] as Buffer,
        });
        now = performance.now();
        onSent(index, now, now - (this.t0 + this.frame * frameMs));
        this.client.send(OP_BINARY, message);
        this.frame++;
      }
      if (!this.client.isOpen) return;
      this.timer = setTimeout(tick, Math.max(0, this.t0 + this.frame * frameMs - performance.now()));
    };
    tick();
  }

  /** Stops sending and drops the connection. */
  stop(): void {
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
    this.client.destroy();
  }
}
