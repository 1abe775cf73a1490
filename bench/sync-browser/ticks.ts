/**
 * Records a stream's sync ticks from a listener socket of its own (`ws`), to say when each frame
 * was meant to sound: the schedule the pages are measured against. Keeps every tick (the SDK's
 * PlayoutSchedule keeps 4), since the measured frames span the whole run.
 */
import WebSocket from "ws";
import { clusterTimeOf } from "../../media/clock/media-clock";
import type { SyncTick } from "../../media/clock/playout";
import type { ServerMessage } from "../../media/wire/control";

export class TickRecorder {
  /** Ticks by validFrom, ascending. */
  readonly ticks: SyncTick[] = [];
  private readonly ws: WebSocket;

  /** @param url gateway ws:// base URL */
  constructor(url: string, streamId: string) {
    this.ws = new WebSocket(`${url}/ws/listen/${encodeURIComponent(streamId)}`);
    this.ws.on("message", (data: Buffer, isBinary) => {
      if (isBinary) return;
      const msg = JSON.parse(data.toString()) as ServerMessage;
      if (msg.type !== "sync.tick") return;
      const { type: _t, streamId: _s, ...tick } = msg;
      const i = this.ticks.findIndex((t) => t.validFrom === tick.validFrom);
      if (i >= 0) this.ticks[i] = tick;
      else this.ticks.push(tick);
      this.ticks.sort((a, b) => a.validFrom - b.validFrom);
    });
    this.ws.on("error", () => undefined);
  }

  /** Cluster time (µs) at which media time `m` was to sound: the latest tick with validFrom ≤ m. */
  playoutUs(m: number): number | undefined {
    let found: SyncTick | undefined;
    for (const t of this.ticks) if (t.validFrom <= m) found = t;
    return found ? clusterTimeOf(found, m) + found.playoutDelayMs * 1000 : undefined;
  }

  close(): void {
    this.ws.close();
  }
}
