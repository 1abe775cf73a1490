/**
 * The gateway: one uWebSockets.js server per node for broadcasters, listeners and HTTP. Holds the
 * node's sockets and the listener-session actors; talks to stream actors with Moleculer calls and
 * receives audio from the media bus.
 */
import type { CallingOptions, ServiceBroker } from "moleculer";
import type { Logger } from "pino";
import type { Config } from "../config";
import { listAllStreams } from "../actors/cluster/members";
import { Placement } from "../actors/cluster/placement";
import type { SessionRecord } from "../actors/cluster/store";
import { call, type ActionName, type ActionParams, type ActionResults } from "../actors/contract";
import { ERROR_CATALOGUE, VezaError, errorCodeOf, isErrorCode, type ErrorCode } from "../actors/errors";
import type { Access } from "../actors/auth/access";
import type { NodeMetrics } from "../actors/metrics";
import type { NodeContext } from "../actors/node-context";
import type { SyncTick } from "../media/clock/playout";
import { API_OWNER_TIMEOUT_MS, type StreamInfo } from "../media/wire/control";
import type { MediaBus } from "../transports";
import { Fanout } from "./fanout";
import { registerHttpListenRoute } from "./http-listen-route";
import { HlsPackagers } from "./hls-packager";
import { registerHlsRoutes } from "./hls-route";
import { HttpListeners } from "./http-listeners";
import { adaptListener } from "./listener-renditions";
import { RenditionFeeds } from "./rendition-feeds";
import { registerHttpRoutes } from "./http-routes";
import { AdminSockets } from "./admin-route";
import { HlsSessions } from "./hls-sessions";
import { IcecastDoor } from "./icecast-door";
import { Sources } from "./sources";
import { SrtDoor } from "./srt-door";
import { RemoteRelays } from "./remote-relays";
import { registerListenRoute, type ListenerData } from "./listen-route";
import { registerPublishRoute, type BroadcasterData } from "./publish-route";
import { rehome } from "./rehome";
import { registerStaticRoutes } from "./web/static-routes";
import { listenOn, loadUws, type HttpResponse, type TemplatedApp, type WebSocket, type us_listen_socket } from "./uws";

/** How often the backpressure sweep looks for listeners over the limit (ms). */
const SWEEP_INTERVAL_MS = 500;
/** Listener-count reports to the stream actor are debounced by this much (ms). */
const REPORT_DEBOUNCE_MS = 100;
/** Every this often (ms) the gateway re-reports all its counts (re-homed streams learn them) and saves its sessions. */
const SYNC_INTERVAL_MS = 2000;
/** How long a listener session can be resumed after its last save (ms). */
const SESSION_TTL_MS = 30_000;
/**
 * A stream that is not live, with no listener or broadcaster here, is forgotten by this gateway
 * this long after its last event (ms), as its owner forgets it after 60 s idle: without it every
 * stream id ever seen stayed in the gateway's maps.
 */
const FORGET_IDLE_MS = 120_000;

export class Gateway {
  readonly app: TemplatedApp;
  readonly fanout: Fanout;
  /** WebSocket listeners' renditions: feeds of each rendition in use here, and moves between them. */
  readonly renditions: RenditionFeeds;
  /** Listener sockets by session id (the listener-session actors of this node). */
  readonly sessions = new Map<string, WebSocket<ListenerData>>();
  /** Broadcaster sockets on this node, by stream id. */
  private readonly broadcasters = new Map<string, WebSocket<BroadcasterData>>();
  /**
   * Latest sync ticks of each stream (the one in force and pending ones), from stream.clock events,
   * on the clock of the owner that sent each; {@link ticksFor} maps them into this node's.
   */
  private readonly syncTicks = new Map<string, Array<{ tick: SyncTick; owner: string }>>();
  /** {@link ticksFor}'s answers, with when they were mapped (performance.now() ms). */
  private readonly mappedTicks = new Map<string, { ticks: SyncTick[]; at: number }>();
  /** Latest known view of each stream, from stream.* events. */
  readonly streamInfo = new Map<string, StreamInfo>();
  /** ms since the epoch of each known stream's last event or clock tick. */
  private readonly streamSeenAt = new Map<string, number>();
  listenerCount = 0;
  /** Listener sockets per IP that joined a stream not known to be live (config maxWaitingPerIp). */
  readonly waitingByIp = new Map<string, number>();
  ready = false;
  /** Set by {@link drain}: /ready answers 503 and new sockets are refused with NODE_DRAINING. */
  draining = false;
  port = 0;
  private listenSocket: us_listen_socket | null = null;
  private readonly uws = loadUws();
  private readonly reportTimers = new Map<string, NodeJS.Timeout>();
  private sweepTimer: NodeJS.Timeout | null = null;
  private syncTimer: NodeJS.Timeout | null = null;
  readonly placement: Placement;
  /** HTTP listeners (Ogg/Opus over HTTP) on both ports. */
  readonly httpListeners: HttpListeners;
  /** HLS and DASH packaging of the streams players ask this gateway for. */
  readonly hls: HlsPackagers;
  /** The Icecast-compatible port (ICECAST_PORT). */
  readonly icecast: IcecastDoor;
  /** The Icecast port listened on; 0 when off or not bound. */
  icecastPort = 0;
  /** Container sources on air here (Icecast, SRT). */
  readonly sources: Sources;
  /** The SRT port (SRT_PORT). */
  readonly srt: SrtDoor;
  /** Operators' relays from and to remote SRT and RIST endpoints. */
  readonly remoteRelays: RemoteRelays;
  /** HLS and DASH players as listen sessions (analytics). */
  readonly hlsSessions: HlsSessions;
  /** Admin sockets (/ws/admin): analytics.update pushed to operators. */
  readonly admins: AdminSockets;

  readonly config: Config;
  readonly bus: MediaBus;
  readonly metrics: NodeMetrics;
  readonly log: Logger;
  readonly access: Access;

  constructor(
    readonly broker: ServiceBroker,
    readonly node: NodeContext,
  ) {
    this.config = node.config;
    this.bus = node.bus;
    this.metrics = node.metrics;
    this.log = node.log.child({ actor: "gateway" });
    this.access = node.access;
    this.placement = new Placement(broker, node.liveness);
    this.app = this.uws.App();
    this.renditions = new RenditionFeeds(this.app, node.bus, node.metrics);
    this.fanout = new Fanout(this.app, node.bus, node.metrics, node.relays, (streamId) => this.ticksFor(streamId), this.renditions);
    this.httpListeners = new HttpListeners(this);
    this.sources = new Sources(this);
    this.icecast = new IcecastDoor(this);
    this.srt = new SrtDoor(this);
    this.remoteRelays = new RemoteRelays(this);
    this.admins = new AdminSockets(this);
    this.hlsSessions = new HlsSessions(this);
    this.hls = new HlsPackagers(this);
    registerPublishRoute(this);
    registerListenRoute(this);
    registerHttpListenRoute(this);
    registerHlsRoutes(this);
    registerStaticRoutes(this);
    registerHttpRoutes(this);
  }

  /**
   * Starts listening; the port is exclusive unless `config.reusePort` (SO_REUSEPORT: several
   * processes share it and the kernel spreads connections between them).
   * @throws Error with `code` "EADDRINUSE" when the port cannot be bound.
   */
  async listen(): Promise<number> {
    const { host, port, reusePort } = this.config;
    await new Promise<void>((resolve, reject) => {
      listenOn(this.app, host, port, !reusePort, (token) => {
        if (!token) return reject(Object.assign(new Error(`port ${port} on ${host} is in use (or cannot be bound)`), { code: "EADDRINUSE", port, host }));
        this.listenSocket = token;
        this.port = this.uws.us_socket_local_port(token);
        resolve();
      });
    });
    this.sweepTimer = setInterval(() => this.sweepSlowListeners(), SWEEP_INTERVAL_MS);
    this.sweepTimer.unref();
    this.syncTimer = setInterval(() => this.sync(), SYNC_INTERVAL_MS);
    this.syncTimer.unref();
    await this.listenIcecast();
    try {
      this.srt.listen();
    } catch (err) {
      this.close();
      throw err;
    }
    this.ready = true;
    this.log.info({ host, port: this.port, icecastPort: this.icecastPort, srtPort: this.srt.port }, "gateway listening");
    return this.port;
  }

  /**
   * Opens the Icecast port: ICECAST_PORT, else 8000, which when taken is skipped with a warning
   * (several nodes on one machine); `off` opens none.
   * @throws Error with `code` "EADDRINUSE" when an explicitly configured port cannot be bound.
   */
  private async listenIcecast(): Promise<void> {
    const configured = this.config.icecastPort;
    if (configured === "off") return;
    try {
      this.icecastPort = await this.icecast.server.listen(configured ?? 8000, this.config.host);
    } catch (err) {
      if (configured !== undefined) {
        this.close();
        throw Object.assign(new Error(`Icecast port ${configured} on ${this.config.host} is in use (or cannot be bound); set ICECAST_PORT`), { code: "EADDRINUSE", port: configured, host: this.config.host });
      }
      this.log.warn({ port: 8000, err: (err as Error).message }, "the Icecast port 8000 is taken: no Icecast port on this node (set ICECAST_PORT)");
    }
  }

  /**
   * Graceful shutdown, first half: /ready turns 503, new upgrades are refused (503 NODE_DRAINING),
   * every listener is told NODE_DRAINING and closed with 1012 (service restart: reconnect
   * elsewhere and resume the session), every broadcaster likewise without taking its stream off
   * air, so that it resumes the stream on another gateway with nothing but the reconnection lost
   * (if it does not come back, the stream's owner takes the stream offline when this node leaves
   * the cluster). Resolves once every socket closed, or after `timeoutMs`.
   */
  async drain(timeoutMs: number): Promise<void> {
    this.draining = true;
    this.ready = false;
    const listeners = this.sessions.size;
    const broadcasters = this.broadcasters.size;
    this.log.info({ listeners, broadcasters, timeoutMs }, "draining: telling clients to move to another gateway");
    for (const ws of [...this.sessions.values()]) this.closeListener(ws, "NODE_DRAINING");
    for (const ws of [...this.broadcasters.values()]) {
      ws.getUserData().stopSent = true; // the stream stays live for the broadcaster's resume elsewhere
      this.closeBroadcaster(ws, "NODE_DRAINING");
    }
    // Icecast sources cannot resume: their streams go offline and they start again elsewhere
    this.icecast.closeSources();
    this.srt.server.closePublishers();
    this.httpListeners.closeAll();
    const until = Date.now() + timeoutMs;
    while ((this.sessions.size > 0 || this.broadcasters.size > 0) && Date.now() < until) await new Promise((r) => setTimeout(r, 20));
    this.log.info({ listenersLeft: this.sessions.size, broadcastersLeft: this.broadcasters.size }, "drained");
  }

  /** Stops accepting, closes every socket with 1001 (going away). */
  close(): void {
    this.ready = false;
    if (this.sweepTimer) clearInterval(this.sweepTimer);
    if (this.syncTimer) clearInterval(this.syncTimer);
    for (const t of this.reportTimers.values()) clearTimeout(t);
    if (this.listenSocket) this.uws.us_listen_socket_close(this.listenSocket);
    this.listenSocket = null;
    for (const ws of [...this.sessions.values()]) if (!ws.getUserData().closed) ws.end(1001, "NODE_SHUTTING_DOWN");
    for (const ws of [...this.broadcasters.values()]) if (ws.getUserData().phase !== "closed") ws.end(1001, "NODE_SHUTTING_DOWN");
    this.icecast.server.close();
    this.srt.close();
    this.remoteRelays.closeAll();
    this.httpListeners.closeAll();
    this.hls.close();
    this.hlsSessions.close();
    this.fanout.close();
    this.renditions.close();
  }

  /**
   * Answers an upgrade request with the catalogue's HTTP status and a JSON error body; 426 also
   * names the version it takes (RFC 6455 §4.4), 429 says when to retry.
   */
  rejectUpgrade(res: HttpResponse, code: ErrorCode, message?: string, retryAfterS = 5): void {
    const spec = ERROR_CATALOGUE[code];
    res.cork(() => {
      res.writeStatus(`${spec.status} ${code}`).writeHeader("content-type", "application/json");
      if (code === "UPGRADE_REQUIRED") res.writeHeader("sec-websocket-version", "13").writeHeader("upgrade", "websocket");
      if (code === "RATE_LIMITED") res.writeHeader("retry-after", String(retryAfterS));
      res.end(JSON.stringify({ error: code, message: message ?? spec.text }));
    });
  }

  /** Whether `streamId` is live as far as this gateway knows (stream events, listener reports). */
  isLive(streamId: string): boolean {
    return this.streamInfo.get(streamId)?.state === "live";
  }

  /** Sends `code`'s error message to a broadcaster and closes it with the catalogue's close code. */
  closeBroadcaster(ws: WebSocket<BroadcasterData>, code: ErrorCode, message?: string): void {
    const data = ws.getUserData();
    if (data.phase === "closed") return;
    data.phase = "closed";
    const spec = ERROR_CATALOGUE[code];
    ws.cork(() => {
      ws.send(JSON.stringify({ type: "error", code, message: message ?? spec.text }), false);
      ws.end(spec.close, code);
    });
  }

  /** Sends `code`'s error message to a listener (or an admin socket) and closes it with the catalogue's close code (once). */
  closeListener(ws: WebSocket<{ closed: boolean }>, code: ErrorCode, message?: string): void {
    const data = ws.getUserData();
    if (data.closed) return;
    data.closed = true;
    const spec = ERROR_CATALOGUE[code];
    ws.cork(() => {
      ws.send(JSON.stringify({ type: "error", code, message: message ?? spec.text }), false);
      ws.end(spec.close, code);
    });
  }

  /** The status a new listener gets: the cached view, or offline with nothing known yet. */
  statusOf(streamId: string): StreamInfo {
    return (
      this.streamInfo.get(streamId) ?? {
        streamId, state: "offline", title: "", metadata: {}, format: null, listeners: this.fanout.listeners(streamId),
        startedAt: null, frames: 0, mediaTime: 0, bitrate: 0, owner: "", renditions: [],
      }
    );
  }

  /** Records the broadcaster on air; one it took over on this node (resume) is closed. */
  addBroadcaster(streamId: string, ws: WebSocket<BroadcasterData>): void {
    const before = this.broadcasters.get(streamId);
    if (before && before !== ws) this.closeBroadcaster(before, "BROADCASTER_REPLACED");
    this.broadcasters.set(streamId, ws);
  }

  removeBroadcaster(streamId: string, ws: WebSocket<BroadcasterData>): void {
    if (this.broadcasters.get(streamId) === ws) this.broadcasters.delete(streamId);
  }

  /**
   * Calls a stream action on the stream's owner node (placement), following one STREAM_MOVED
   * redirect. @throws VezaError NO_WORKER when no node runs the stream service; the action's errors.
   */
  async callOwner<A extends ActionName>(streamId: string, action: A, params: ActionParams<A>, opts: CallingOptions = {}): Promise<ActionResults[A]> {
    const nodeID = this.placement.ownerOf(streamId);
    if (!nodeID) throw new VezaError("NO_WORKER");
    try {
      return await call(this.broker, action, params, { ...opts, nodeID });
    } catch (err) {
      const owner = (err as { data?: { owner?: unknown } }).data?.owner;
      if (errorCodeOf(err) !== "STREAM_MOVED" || typeof owner !== "string") throw err;
      this.placement.learn({ streamId, owner, state: "live" });
      return call(this.broker, action, params, { ...opts, nodeID: owner });
    }
  }

  /**
   * Every live node running the stream service answers `stream.list`; merged by stream id, live
   * first. A node that does not answer within {@link API_OWNER_TIMEOUT_MS} (dead, frozen) holds
   * nothing up: its streams come from this gateway's last known view, marked `stale`.
   */
  async listStreams(): Promise<StreamInfo[]> {
    const { streams, complete } = await listAllStreams(this.broker, API_OWNER_TIMEOUT_MS);
    if (complete) return streams;
    const known = new Set(streams.map((s) => s.streamId));
    const stale = [...this.streamInfo.values()].filter((s) => !known.has(s.streamId)).map((s): StreamInfo => ({ ...s, stale: true }));
    return [...streams, ...stale].sort((a, b) => a.streamId.localeCompare(b.streamId));
  }

  /**
   * One stream's view from its owner, else from whichever node knows it; an owner that does not
   * answer within {@link API_OWNER_TIMEOUT_MS} gets this gateway's last known view, marked `stale`.
   * @throws STREAM_NOT_FOUND; OWNER_LOST when the owner is silent and no node knows the stream.
   */
  async getStream(streamId: string): Promise<StreamInfo> {
    try {
      return await this.callOwner(streamId, "stream.get", { streamId }, { timeout: API_OWNER_TIMEOUT_MS, retries: 0 });
    } catch (err) {
      const code = errorCodeOf(err);
      if (code === "NO_WORKER") throw err;
      const known = this.streamInfo.get(streamId);
      if (code !== "STREAM_NOT_FOUND" && known) return { ...known, stale: true };
      const found = (await this.listStreams()).find((s) => s.streamId === streamId);
      if (found) return found;
      // the owner is silent (dead or frozen) and nothing else knows the stream
      if (code !== "STREAM_NOT_FOUND") throw new VezaError("OWNER_LOST", `the owner of stream ${streamId} did not answer within ${API_OWNER_TIMEOUT_MS} ms`);
      throw err;
    }
  }

  /**
   * A node left the cluster, or the failure detector suspects it (`suspected`): the broadcasters
   * here whose stream it owned are re-homed to the next owner (gateway/rehome.ts).
   */
  onNodeLeft(nodeID: string, suspected = false): void {
    this.placement.forgetNode(nodeID);
    for (const [streamId, ws] of this.broadcasters) {
      const data = ws.getUserData();
      if (data.phase === "closed" || data.owner !== nodeID) continue;
      this.log.warn({ streamId, owner: nodeID, suspected }, "stream owner lost; re-homing the stream");
      void rehome(this, data, nodeID, () => data.phase === "closed", () => this.closeBroadcaster(ws, "OWNER_LOST"));
    }
    this.sources.onOwnerLost(nodeID);
    if (!suspected) for (const streamId of this.fanout.streamIds()) this.reportListeners(streamId);
  }

  /** Loads a session to resume; null when unknown, expired or the store does not answer in 300 ms. */
  async loadSession(sessionId: string): Promise<SessionRecord | null> {
    const timeout = new Promise<null>((r) => setTimeout(() => r(null), 300).unref());
    return Promise.race([this.node.store.loadSession(sessionId).catch(() => null), timeout]);
  }

  saveSession(record: SessionRecord): void {
    this.node.store.saveSessions([record], SESSION_TTL_MS).catch((err: unknown) => this.log.warn({ err }, "session save failed"));
  }

  /** Periodic: re-report every stream's listener count to its owner; save all sessions for failover. */
  private sync(): void {
    this.forgetIdleStreams();
    for (const streamId of new Set([...this.fanout.streamIds(), ...this.hls.streamIds()])) this.reportListeners(streamId);
    const records: SessionRecord[] = [];
    for (const ws of this.sessions.values()) {
      const d = ws.getUserData();
      if (d.session && !d.closed) records.push(d.session.record(this.fanout.framesPublished(d.streamId)));
    }
    this.node.store.saveSessions(records, SESSION_TTL_MS).catch((err: unknown) => this.log.warn({ err }, "session save failed"));
  }

  /** A stream event arrived: cache it and tell local listeners and the broadcaster. */
  onStreamEvent(kind: "start" | "status" | "metadata" | "stop", info: StreamInfo & { code?: string; sessionId?: string }): void {
    // the late word of a former owner (frozen or cut off, replaced meanwhile) about a stream live elsewhere
    const known = this.streamInfo.get(info.streamId);
    if (info.state !== "live" && known?.state === "live" && known.owner !== info.owner && this.placement.isAlive(known.owner)) return;
    this.streamInfo.set(info.streamId, info);
    this.streamSeenAt.set(info.streamId, Date.now());
    this.placement.learn(info);
    if (kind === "start" || kind === "stop") this.sources.onStreamEvent(kind, info);
    // an HTTP listener waits through a source's reconnection (offline), not past the broadcast's end
    if (kind === "stop" && info.state === "ended") {
      this.httpListeners.closeStream(info.streamId);
      this.hls.ended(info.streamId);
    }
    if (kind === "start") {
      // a broadcaster that resumed elsewhere took the stream over: this one must stop feeding it
      const old = this.broadcasters.get(info.streamId);
      if (old && old.getUserData().sessionId !== info.sessionId) this.closeBroadcaster(old, "BROADCASTER_REPLACED");
      if (this.fanout.listeners(info.streamId) > 0) this.reportListeners(info.streamId);
      return;
    }
    if (kind === "metadata") {
      this.fanout.publishText(info.streamId, JSON.stringify({ type: "stream.metadata", streamId: info.streamId, title: info.title, metadata: info.metadata }));
      return;
    }
    const broadcaster = this.broadcasters.get(info.streamId);
    if (kind === "stop") {
      if (broadcaster && info.code && broadcaster.getUserData().sessionId === info.sessionId) {
        this.closeBroadcaster(broadcaster, isErrorCode(info.code) ? info.code : "INTERNAL");
      }
      return;
    }
    const text = JSON.stringify({ type: "stream.status", ...info });
    this.fanout.publishText(info.streamId, text);
    if (broadcaster && broadcaster.getUserData().phase === "live") broadcaster.cork(() => broadcaster.send(text, false));
  }

  /**
   * A stream's clock mapping changed (`tick`, on the clock of `owner`, the node that sent it): keep
   * it for new listeners and send it to the current ones, mapped into this node's clock. Held back
   * while this node's estimate of the owner's clock is not ready (sent once it is).
   */
  onClockTick(streamId: string, tick: SyncTick, owner: string): void {
    this.streamSeenAt.set(streamId, Date.now());
    const ticks = (this.syncTicks.get(streamId) ?? []).filter((t) => t.tick.validFrom < tick.validFrom);
    ticks.push({ tick, owner });
    while (ticks.length > 3) ticks.shift();
    this.syncTicks.set(streamId, ticks);
    this.mappedTicks.delete(streamId);
    const mapped = this.node.peerClocks.mapTick(tick, owner);
    if (mapped) this.fanout.publishText(streamId, JSON.stringify({ type: "sync.tick", streamId, ...mapped }));
  }

  /** This node's estimate of `peer`'s clock became ready: the ticks held back for its streams go out. */
  onPeerClockReady(peer: string): void {
    for (const [streamId, ticks] of this.syncTicks) {
      if (ticks.at(-1)?.owner !== peer) continue;
      this.mappedTicks.delete(streamId);
      for (const tick of this.ticksFor(streamId)) this.fanout.publishText(streamId, JSON.stringify({ type: "sync.tick", streamId, ...tick }));
    }
  }

  /**
   * A stream's latest sync ticks on this node's clock (mapped with the current estimates, refreshed
   * every 250 ms); none while the newest one's owner clock is not estimated yet. Ticks of a former
   * owner that cannot be mapped any more are left out (they are for media time already played).
   */
  ticksFor(streamId: string): SyncTick[] {
    const cached = this.mappedTicks.get(streamId);
    const now = performance.now();
    if (cached && now - cached.at < 250) return cached.ticks;
    const mapped = (this.syncTicks.get(streamId) ?? []).map((t) => this.node.peerClocks.mapTick(t.tick, t.owner));
    const ticks = mapped.at(-1) ? mapped.filter((t): t is SyncTick => t !== null) : [];
    this.mappedTicks.set(streamId, { ticks, at: now });
    return ticks;
  }

  /** Drops what this gateway knows of streams idle for {@link FORGET_IDLE_MS} (not live, nobody here). */
  private forgetIdleStreams(): void {
    const before = Date.now() - FORGET_IDLE_MS;
    for (const [streamId, seenAt] of this.streamSeenAt) {
      if (seenAt > before || this.isLive(streamId) || this.fanout.listeners(streamId) > 0 || this.broadcasters.has(streamId)) continue;
      this.streamSeenAt.delete(streamId);
      this.streamInfo.delete(streamId);
      this.syncTicks.delete(streamId);
      this.mappedTicks.delete(streamId);
      this.placement.forget(streamId);
    }
  }

  /** Tells the stream actor this node's listener count of `streamId` (debounced). */
  reportListeners(streamId: string): void {
    if (this.reportTimers.has(streamId)) return;
    this.reportTimers.set(
      streamId,
      setTimeout(() => {
        this.reportTimers.delete(streamId);
        const count = this.fanout.listeners(streamId);
        const passthrough = this.httpListeners.passthroughCount(streamId);
        const renditions = this.hls.rungUsers(streamId);
        for (const [id, n] of Object.entries(this.renditions.rungUsers(streamId))) renditions[id] = (renditions[id] ?? 0) + n;
        this.callOwner(streamId, "stream.listeners", { streamId, nodeID: this.broker.nodeID, count, passthrough, renditions }).then(
          (info) => {
            if (info && !this.streamInfo.has(streamId)) {
              this.streamInfo.set(streamId, info);
              this.streamSeenAt.set(streamId, Date.now());
            }
          },
          (err: unknown) => {
            if (errorCodeOf(err) !== "NO_WORKER") this.log.warn({ err, streamId }, "listener count report failed");
          },
        );
      }, REPORT_DEBOUNCE_MS),
    );
  }

  /**
   * Cuts listeners whose queued bytes passed the backpressure limit (uWS skipped them meanwhile):
   * a close frame could not pass the backlog, so the connection is closed at once (client sees 1006).
   */
  private sweepSlowListeners(): void {
    const limit = this.config.maxBackpressureBytes;
    for (const ws of this.sessions.values()) {
      const data = ws.getUserData();
      if (data.closed || data.slow) continue;
      // downgrade first (auto listeners), then drop
      if (!adaptListener(this, ws)) continue;
      data.slow = true;
      this.metrics.listenersDropped.inc();
      this.metrics.framesDropped.inc({ reason: "slow_listener" });
      this.log.info({ sessionId: data.session?.sessionId, streamId: data.streamId, buffered: ws.getBufferedAmount() }, "dropping slow listener");
      // the close frame queues behind the backlog, so cut the connection rather than wait for it
      ws.close();
    }
  }
}
