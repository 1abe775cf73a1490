/**
 * The gateway: one uWebSockets.js server per node for broadcasters, listeners and HTTP. Holds the
 * node's sockets and the listener-session actors; talks to stream actors with Moleculer calls and
 * receives audio from the media bus.
 */
import type { ServiceBroker } from "moleculer";
import type { Logger } from "pino";
import type { Config } from "../config";
import { listAllStreams, onePerStream } from "../actors/cluster/members";
import { Placement } from "../actors/cluster/placement";
import type { SessionRecord } from "../actors/cluster/store";
import { call, type ActionName, type ActionParams, type ActionResults } from "../actors/contract";
import { ERROR_CATALOGUE, VezaError, errorCodeOf, type ErrorCode } from "../actors/errors";
import type { NodeMetrics } from "../actors/metrics";
import type { NodeContext } from "../actors/node-context";
import type { SyncTick } from "../media/clock/playout";
import type { StreamInfo } from "../media/wire/control";
import type { MediaBus } from "../transports";
import { Fanout } from "./fanout";
import { registerHttpRoutes } from "./http-routes";
import { registerListenRoute, type ListenerData } from "./listen-route";
import { registerPublishRoute, type BroadcasterData } from "./publish-route";
import { registerStaticRoutes } from "./web/static-routes";
import { loadUws, type HttpResponse, type TemplatedApp, type WebSocket, type us_listen_socket } from "./uws";

/** How often the backpressure sweep looks for listeners over the limit (ms). */
const SWEEP_INTERVAL_MS = 500;
/** Listener-count reports to the stream actor are debounced by this much (ms). */
const REPORT_DEBOUNCE_MS = 100;
/** Every this often (ms) the gateway re-reports all its counts (re-homed streams learn them) and saves its sessions. */
const SYNC_INTERVAL_MS = 2000;
/** How long a listener session can be resumed after its last save (ms). */
const SESSION_TTL_MS = 30_000;

export class Gateway {
  readonly app: TemplatedApp;
  readonly fanout: Fanout;
  /** Listener sockets by session id (the listener-session actors of this node). */
  readonly sessions = new Map<string, WebSocket<ListenerData>>();
  /** Broadcaster sockets on this node, by stream id. */
  private readonly broadcasters = new Map<string, WebSocket<BroadcasterData>>();
  /** Latest sync ticks of each stream (the one in force and pending ones), from stream.clock events. */
  readonly syncTicks = new Map<string, SyncTick[]>();
  /** Latest known view of each stream, from stream.* events. */
  readonly streamInfo = new Map<string, StreamInfo>();
  listenerCount = 0;
  ready = false;
  port = 0;
  private listenSocket: us_listen_socket | null = null;
  private readonly uws = loadUws();
  private readonly reportTimers = new Map<string, NodeJS.Timeout>();
  private sweepTimer: NodeJS.Timeout | null = null;
  private syncTimer: NodeJS.Timeout | null = null;
  readonly placement: Placement;

  readonly config: Config;
  readonly bus: MediaBus;
  readonly metrics: NodeMetrics;
  readonly log: Logger;

  constructor(
    readonly broker: ServiceBroker,
    readonly node: NodeContext,
  ) {
    this.config = node.config;
    this.bus = node.bus;
    this.metrics = node.metrics;
    this.log = node.log.child({ actor: "gateway" });
    this.placement = new Placement(broker);
    this.app = this.uws.App();
    this.fanout = new Fanout(this.app, node.bus, node.metrics, node.relays);
    registerPublishRoute(this);
    registerListenRoute(this);
    registerStaticRoutes(this);
    registerHttpRoutes(this);
  }

  /** Starts listening. @throws Error when the port cannot be bound. */
  async listen(): Promise<number> {
    const { host, port } = this.config;
    await new Promise<void>((resolve, reject) => {
      this.app.listen(host, port, (token) => {
        if (!token) return reject(new Error(`cannot listen on ${host}:${port}`));
        this.listenSocket = token;
        this.port = this.uws.us_socket_local_port(token);
        resolve();
      });
    });
    this.sweepTimer = setInterval(() => this.sweepSlowListeners(), SWEEP_INTERVAL_MS);
    this.sweepTimer.unref();
    this.syncTimer = setInterval(() => this.sync(), SYNC_INTERVAL_MS);
    this.syncTimer.unref();
    this.ready = true;
    this.log.info({ host, port: this.port }, "gateway listening");
    return this.port;
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
    this.fanout.close();
  }

  /** Answers an upgrade request with the catalogue's HTTP status and a JSON error body. */
  rejectUpgrade(res: HttpResponse, code: ErrorCode, message?: string): void {
    const spec = ERROR_CATALOGUE[code];
    res.cork(() => {
      res.writeStatus(`${spec.status} ${code}`).writeHeader("content-type", "application/json").end(JSON.stringify({ error: code, message: message ?? spec.text }));
    });
  }

  /** The status a new listener gets: the cached view, or offline with nothing known yet. */
  statusOf(streamId: string): StreamInfo {
    return (
      this.streamInfo.get(streamId) ?? {
        streamId, state: "offline", title: "", metadata: {}, format: null, listeners: this.fanout.listeners(streamId),
        startedAt: null, frames: 0, mediaTime: 0, bitrate: 0, owner: "",
      }
    );
  }

  addBroadcaster(streamId: string, ws: WebSocket<BroadcasterData>): void {
    this.broadcasters.set(streamId, ws);
  }

  removeBroadcaster(streamId: string, ws: WebSocket<BroadcasterData>): void {
    if (this.broadcasters.get(streamId) === ws) this.broadcasters.delete(streamId);
  }

  /**
   * Calls a stream action on the stream's owner node (placement), following one STREAM_MOVED
   * redirect. @throws VezaError NO_WORKER when no node runs the stream service; the action's errors.
   */
  async callOwner<A extends ActionName>(streamId: string, action: A, params: ActionParams<A>): Promise<ActionResults[A]> {
    const nodeID = this.placement.ownerOf(streamId);
    if (!nodeID) throw new VezaError("NO_WORKER");
    try {
      return await call(this.broker, action, params, { nodeID });
    } catch (err) {
      const owner = (err as { data?: { owner?: unknown } }).data?.owner;
      if (errorCodeOf(err) !== "STREAM_MOVED" || typeof owner !== "string") throw err;
      this.placement.learn({ streamId, owner, state: "live" });
      return call(this.broker, action, params, { nodeID: owner });
    }
  }

  /** Every live node running the stream service answers `stream.list`; merged by stream id, live first. */
  async listStreams(): Promise<StreamInfo[]> {
    return onePerStream(await listAllStreams(this.broker));
  }

  /** One stream's view from its owner, else from whichever node knows it. @throws STREAM_NOT_FOUND. */
  async getStream(streamId: string): Promise<StreamInfo> {
    try {
      return await this.callOwner(streamId, "stream.get", { streamId });
    } catch (err) {
      if (errorCodeOf(err) !== "STREAM_NOT_FOUND") throw err;
      const found = (await this.listStreams()).find((s) => s.streamId === streamId);
      if (!found) throw err;
      return found;
    }
  }

  /** A node left the cluster: broadcasters whose stream it owned are told to reconnect (OWNER_LOST). */
  onNodeLeft(nodeID: string): void {
    const lost = new Set(this.placement.forgetNode(nodeID));
    for (const [streamId, ws] of this.broadcasters) {
      const data = ws.getUserData();
      if (data.phase === "closed" || (!lost.has(streamId) && data.owner !== nodeID)) continue;
      this.log.warn({ streamId, owner: nodeID }, "stream owner left; asking the broadcaster to reconnect");
      data.phase = "closed";
      const spec = ERROR_CATALOGUE.OWNER_LOST;
      ws.cork(() => {
        ws.send(JSON.stringify({ type: "error", code: "OWNER_LOST", message: spec.text }), false);
        ws.end(spec.close, "OWNER_LOST");
      });
    }
    for (const streamId of this.fanout.streamIds()) this.reportListeners(streamId);
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
    for (const streamId of this.fanout.streamIds()) this.reportListeners(streamId);
    const records: SessionRecord[] = [];
    for (const ws of this.sessions.values()) {
      const d = ws.getUserData();
      if (d.session && !d.closed) records.push(d.session.record(this.fanout.framesPublished(d.streamId)));
    }
    this.node.store.saveSessions(records, SESSION_TTL_MS).catch((err: unknown) => this.log.warn({ err }, "session save failed"));
  }

  /** A stream event arrived: cache it and tell local listeners and the broadcaster. */
  onStreamEvent(kind: "status" | "metadata" | "stop", info: StreamInfo & { code?: string; sessionId?: string }): void {
    this.streamInfo.set(info.streamId, info);
    this.placement.learn(info);
    if (kind === "metadata") {
      this.fanout.publishText(info.streamId, JSON.stringify({ type: "stream.metadata", streamId: info.streamId, title: info.title, metadata: info.metadata }));
      return;
    }
    const broadcaster = this.broadcasters.get(info.streamId);
    if (kind === "stop") {
      const data = broadcaster?.getUserData();
      if (broadcaster && data && info.code && data.phase !== "closed" && data.sessionId === info.sessionId) {
        const code = info.code as ErrorCode;
        const spec = ERROR_CATALOGUE[code] ?? ERROR_CATALOGUE.INTERNAL;
        data.phase = "closed";
        broadcaster.cork(() => {
          broadcaster.send(JSON.stringify({ type: "error", code, message: spec.text }), false);
          broadcaster.end(spec.close, code);
        });
      }
      return;
    }
    const text = JSON.stringify({ type: "stream.status", ...info });
    this.fanout.publishText(info.streamId, text);
    if (broadcaster && broadcaster.getUserData().phase === "live") broadcaster.cork(() => broadcaster.send(text, false));
  }

  /** A stream's clock mapping changed: keep it for new listeners and send it to the current ones. */
  onClockTick(streamId: string, tick: SyncTick): void {
    const ticks = (this.syncTicks.get(streamId) ?? []).filter((t) => t.validFrom < tick.validFrom);
    ticks.push(tick);
    while (ticks.length > 3) ticks.shift();
    this.syncTicks.set(streamId, ticks);
    this.fanout.publishText(streamId, JSON.stringify({ type: "sync.tick", streamId, ...tick }));
  }

  /** Tells the stream actor this node's listener count of `streamId` (debounced). */
  reportListeners(streamId: string): void {
    if (this.reportTimers.has(streamId)) return;
    this.reportTimers.set(
      streamId,
      setTimeout(() => {
        this.reportTimers.delete(streamId);
        const count = this.fanout.listeners(streamId);
        this.callOwner(streamId, "stream.listeners", { streamId, nodeID: this.broker.nodeID, count }).catch((err: unknown) =>
          this.log.warn({ err, streamId }, "listener count report failed"),
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
      if (data.closed || data.slow || ws.getBufferedAmount() < limit) continue;
      data.slow = true;
      this.metrics.listenersDropped.inc();
      this.metrics.framesDropped.inc({ reason: "slow_listener" });
      this.log.info({ sessionId: data.session?.sessionId, streamId: data.streamId, buffered: ws.getBufferedAmount() }, "dropping slow listener");
      // the close frame queues behind the backlog, so cut the connection rather than wait for it
      ws.close();
    }
  }
}
