/**
 * A broadcaster whose sound card runs `skewPpm` off 48 kHz: it sends one real 20 ms Opus packet
 * per 20 ms of its own clock, i.e. every 20 ms / (1 + skew) of true time, scheduled against the
 * start time so the rate does not wander. It records when each frame was captured: the true time
 * its sound card's clock reached the frame (the schedule), which a late timer does not move.
 * It publishes with a token (a `publish` scope on the stream) as `Authorization: Bearer`.
 */
import WebSocket from "ws";
import { clusterNowUs } from "../../media/clock/cluster-time";
import { encodeAudioData } from "../../media/wire";
import type { ServerMessage } from "../../media/wire/control";

export class SkewedBroadcaster {
  /** True capture time (µs) of frame k (media time 960·k): the end-to-end delay starts here. */
  readonly capturedUs: number[] = [];
  private ws: WebSocket | null = null;
  private timer: NodeJS.Timeout | null = null;
  private stopped = false;

  constructor(
    private readonly url: string,
    private readonly streamId: string,
    private readonly packets: Buffer[],
    readonly skewPpm: number,
    private readonly token: string,
    private readonly playoutDelayMs?: number,
  ) {}

  async start(): Promise<void> {
    const ws = new WebSocket(`${this.url}/ws/publish/${this.streamId}`, { headers: { authorization: `Bearer ${this.token}` } });
    this.ws = ws;
    // listening from the start: a refused token's error can arrive with the upgrade's response,
    // and the socket's close (4401/4403) must end the wait too
    const started = new Promise<void>((resolve, reject) => {
      ws.on("message", (d, isBinary) => {
        if (isBinary) return;
        const msg = JSON.parse(d.toString()) as ServerMessage;
        if (msg.type === "stream.started") resolve();
        if (msg.type === "error") reject(new Error(`${msg.code}: ${msg.message}`));
      });
      ws.once("error", reject);
      ws.once("close", (code) => reject(new Error(`broadcaster socket closed (${code}) before stream.started`)));
    });
    started.catch(() => undefined); // awaited below; a refusal before the open is rejected there
    await new Promise((resolve, reject) => (ws.once("open", resolve), started.catch(reject)));
    ws.send(JSON.stringify({ type: "stream.start", format: "opus", title: "sync bench", playoutDelayMs: this.playoutDelayMs }));
    await started;
    const t0 = clusterNowUs();
    const periodUs = 20_000 / (1 + this.skewPpm / 1e6);
    const tick = () => {
      if (this.stopped) return;
      const now = clusterNowUs();
      for (let k = this.capturedUs.length; t0 + k * periodUs <= now; k = this.capturedUs.length) {
        const packet = this.packets[k % this.packets.length]!;
        ws.send(encodeAudioData({ rendition: 0, flags: 0, seq: k >>> 0, mediaTime: k * 960, duration: 960, packet }));
        this.capturedUs.push(t0 + k * periodUs);
      }
      const next = t0 + this.capturedUs.length * periodUs;
      this.timer = setTimeout(tick, Math.max(0, (next - clusterNowUs()) / 1000));
    };
    tick();
  }

  stop(): void {
    this.stopped = true;
    if (this.timer) clearTimeout(this.timer);
    this.ws?.close();
  }
}
