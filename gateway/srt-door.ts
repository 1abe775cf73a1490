/**
 * The gateway's side of the SRT port (transports/srt/server.ts, SRT_PORT): a publisher goes on air
 * through gateway/sources.ts as an Icecast source does (its token from the streamid, or
 * SOURCE_PASSWORD; format `mpegts`), a reader is an HTTP listener of format `mpegts`
 * (gateway/http-listeners.ts: the publisher's own transport stream when it sends one, video
 * included, else the stream's Opus remuxed into MPEG-TS by one ffmpeg per stream), under the same
 * listen rules (LISTEN_AUTH, the listener quotas).
 */
import { srtUnavailable } from "../transports/srt/libsrt";
import { SrtServer, type SrtHost, type SrtReaderSink, type SrtSourceHandle } from "../transports/srt/server";
import type { SrtRequest } from "../transports/srt/streamid";
import type { Gateway } from "./gateway";

/** SRT_PORT's default: MediaMTX's SRT port. */
export const DEFAULT_SRT_PORT = 8890;

export class SrtDoor implements SrtHost {
  readonly server: SrtServer;
  /** The UDP port listened on; 0 when off or not bound. */
  port = 0;

  constructor(private readonly gw: Gateway) {
    this.server = new SrtServer(this, gw.log.child({ mod: "srt" }));
  }

  get draining(): boolean {
    return this.gw.draining;
  }

  /**
   * Opens the SRT port: SRT_PORT, else 8890, which when taken (several nodes on one machine) or
   * without libsrt is skipped with a warning; 0 opens none.
   * @throws Error when an explicitly configured port cannot be opened.
   */
  listen(): void {
    const configured = this.gw.config.srtPort;
    if (configured === 0) return;
    const port = configured ?? DEFAULT_SRT_PORT;
    const unavailable = srtUnavailable();
    try {
      if (unavailable) throw new Error(unavailable);
      this.server.listen(port, this.gw.config.host, { latencyMs: this.gw.config.srtLatencyMs });
      this.port = port;
    } catch (err) {
      const message = (err as Error).message;
      if (configured !== undefined) throw Object.assign(new Error(`SRT port ${port}: ${message}; set SRT_PORT=0 to run without SRT`), { code: unavailable ? "SRT_UNAVAILABLE" : "EADDRINUSE", port });
      this.gw.log.warn({ port, err: message }, "no SRT port on this node (set SRT_PORT)");
    }
  }

  startPublish(req: SrtRequest, ip: string, kick: (reason: string) => void): Promise<SrtSourceHandle> {
    return this.gw.sources.start({ streamId: req.streamId, password: req.token, ip, format: "mpegts", title: req.streamId, metadata: {}, door: "srt", via: "srt.publish" }, kick);
  }

  async startRead(req: SrtRequest, ip: string, sink: SrtReaderSink): Promise<() => void> {
    const listen = { streamId: req.streamId, format: "mpegts" as const, icy: false, ip, token: req.token, kind: "srt" as const };
    await this.gw.httpListeners.headers(listen);
    return this.gw.httpListeners.attach(listen, sink);
  }

  close(): void {
    this.server.close();
  }
}
