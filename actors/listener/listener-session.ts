/**
 * The listener-session actor's state: one per listener socket, on the gateway node that holds the
 * socket. Kept small (a few numbers and two strings) because a gateway holds many thousands; the
 * frames sent are derived from the gateway's per-stream frame counter rather than counted per send.
 */
export class ListenerSession {
  /** Frames published to this stream's topic when the session joined. */
  private readonly framesAtJoin: number;
  /** Frames not delivered because the listener passed the backpressure limit. */
  framesDropped = 0;
  /** Set when the session ended: frames published to the topic at that moment. */
  private framesAtLeave: number | null = null;

  constructor(
    readonly sessionId: string,
    readonly streamId: string,
    /** ms since the Unix epoch. */
    readonly connectedAt: number,
    framesPublished: number,
  ) {
    this.framesAtJoin = framesPublished;
  }

  /** Frames sent to this listener, given the stream's current frames-published counter. */
  framesSent(framesPublished: number): number {
    return (this.framesAtLeave ?? framesPublished) - this.framesAtJoin - this.framesDropped;
  }

  end(framesPublished: number): void {
    this.framesAtLeave ??= framesPublished;
  }

  /** JSON view for the API and the admin REPL. */
  stats(framesPublished: number): { sessionId: string; streamId: string; connectedMs: number; framesSent: number; framesDropped: number } {
    return {
      sessionId: this.sessionId,
      streamId: this.streamId,
      connectedMs: Date.now() - this.connectedAt,
      framesSent: this.framesSent(framesPublished),
      framesDropped: this.framesDropped,
    };
  }
}
