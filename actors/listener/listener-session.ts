import type { SessionRecord } from "../cluster/store";
import type { SessionInfo } from "../contract";

/**
 * The listener-session actor's state: one per listener socket, on the gateway node that holds the
 * socket. Kept small (a few numbers and two strings) because a gateway holds many thousands; the
 * frames sent are derived from the gateway's per-stream frame counter rather than counted per send.
 */
export class ListenerSession {
  /** Frames published to this stream's topic when the session joined this gateway. */
  private readonly framesAtJoin: number;
  /** Frames not delivered because the listener passed the backpressure limit. */
  framesDropped = 0;
  /** Frames sent on earlier gateways (carried over when the session resumed here). */
  private readonly framesBefore: number;
  /** Times this session reconnected (resumed) after losing its socket. */
  readonly reconnects: number;
  /** Opus rendition ids sent to it, in the order first used (analytics). */
  readonly renditions = new Set<number>();
  /** Set when the session ended: frames published to the topic at that moment. */
  private framesAtLeave: number | null = null;

  constructor(
    readonly sessionId: string,
    readonly streamId: string,
    /** ms since the Unix epoch of the session's first connection. */
    readonly connectedAt: number,
    framesPublished: number,
    carried?: SessionRecord,
  ) {
    this.framesAtJoin = framesPublished;
    this.framesBefore = carried?.framesSent ?? 0;
    this.framesDropped = carried?.framesDropped ?? 0;
    this.reconnects = carried ? carried.reconnects + 1 : 0;
  }

  /** Frames sent to this listener over the whole session, given this gateway's frames-published counter. */
  framesSent(framesPublished: number): number {
    return this.framesBefore + (this.framesAtLeave ?? framesPublished) - this.framesAtJoin;
  }

  /** What another gateway needs to resume this session. */
  record(framesPublished: number): SessionRecord {
    return {
      sessionId: this.sessionId,
      streamId: this.streamId,
      connectedAt: this.connectedAt,
      framesSent: this.framesSent(framesPublished),
      framesDropped: this.framesDropped,
      reconnects: this.reconnects,
    };
  }

  end(framesPublished: number): void {
    this.framesAtLeave ??= framesPublished;
  }

  /** The listener-session actor's view (actors/listener/service.ts) of this WebSocket session on gateway `nodeID`. */
  info(nodeID: string, framesPublished: number, sub?: string): SessionInfo {
    return { ...this.stats(framesPublished), kind: "websocket", nodeID, connectedAt: this.connectedAt, renditions: [...this.renditions].map(String), ...(sub ? { sub } : {}) };
  }

  /** JSON view for the API and the admin REPL. */
  stats(framesPublished: number): { sessionId: string; streamId: string; connectedMs: number; framesSent: number; framesDropped: number; reconnects: number } {
    return {
      sessionId: this.sessionId,
      streamId: this.streamId,
      connectedMs: Date.now() - this.connectedAt,
      framesSent: this.framesSent(framesPublished),
      framesDropped: this.framesDropped,
      reconnects: this.reconnects,
    };
  }
}
