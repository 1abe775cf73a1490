/**
 * Prometheus metrics of one node (prom-client), served at GET /metrics. One registry per node, so
 * several nodes in one process (tests) do not share counters. Names follow Prometheus conventions:
 * `_total` counters, base units (bytes).
 */
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from "prom-client";
import { rateLimitedCounter } from "./auth/limits-config";

/**
 * Why a frame was dropped: `bad_frame` (not valid audio.data), `not_started` (before stream.start),
 * `slow_listener` (a listener cut for backpressure), `too_fast` (a broadcaster ahead of real time).
 */
export const DROP_REASONS = ["bad_frame", "not_started", "slow_listener", "too_fast", "fenced", "stale"] as const;
export type DropReason = (typeof DROP_REASONS)[number];

export class NodeMetrics {
  readonly registry = new Registry();
  /** Streams this node owns that are live. */
  readonly streamsLive = new Gauge({ name: "veza_streams_live", help: "Streams owned by this node that are live", registers: [this.registry] });
  /** Listener sockets open on this gateway. */
  readonly listeners = new Gauge({ name: "veza_listeners", help: "Listener sockets open on this gateway", registers: [this.registry] });
  /** Frames accepted from broadcasters or encoders and stamped by a stream actor. */
  readonly framesIn = new Counter({ name: "veza_frames_in_total", help: "Audio frames stamped by stream actors on this node", registers: [this.registry] });
  /** Frames published by this gateway, counted once per frame (not per listener). */
  readonly framesOut = new Counter({ name: "veza_frames_out_total", help: "Audio frames fanned out by this gateway (once per frame)", registers: [this.registry] });
  /** Frames lost, by reason (each label exists from start, at 0): see {@link DROP_REASONS}. */
  readonly framesDropped = new Counter({ name: "veza_frames_dropped_total", help: "Audio frames dropped, by reason", labelNames: ["reason"] as const, registers: [this.registry] });
  /** Bytes written to listener sockets (frame bytes × listeners). */
  readonly bytesOut = new Counter({ name: "veza_bytes_out_total", help: "Audio bytes sent to listeners", registers: [this.registry] });
  /** Bytes received from broadcasters. */
  readonly bytesIn = new Counter({ name: "veza_bytes_in_total", help: "Bytes received from broadcasters", registers: [this.registry] });
  /** Listeners dropped for passing the backpressure limit. */
  readonly listenersDropped = new Counter({ name: "veza_listeners_dropped_total", help: "Listeners closed for passing the backpressure limit", registers: [this.registry] });
  /** ffmpeg restarts after a crash. */
  /** WebSocket listeners moved between renditions (gateway/listener-renditions.ts), by direction and reason. */
  readonly renditionSwitches = new Counter({ name: "veza_rendition_switches_total", help: "WebSocket listeners moved to another rendition, by direction (down, up) and reason (congestion: queue past the ABR threshold or the backpressure limit; recovered: a stable period; select: the listener asked)", labelNames: ["direction", "reason"] as const, registers: [this.registry] });
  readonly encoderRestarts = new Counter({ name: "veza_encoder_restarts_total", help: "Encoder (ffmpeg) restarts after a crash", registers: [this.registry] });
  /** Listen sessions queued for the analytics database (actors/analytics/recorder.ts). */
  readonly analyticsPending = new Gauge({ name: "veza_analytics_pending_sessions", help: "Listen sessions queued for the analytics database (kept while it is out)", registers: [this.registry] });
  readonly analyticsWritten = new Counter({ name: "veza_analytics_sessions_written_total", help: "Listen session rows written to the analytics database", registers: [this.registry] });
  readonly analyticsFailures = new Counter({ name: "veza_analytics_write_failures_total", help: "Analytics batch writes that failed (the rows are kept and retried)", registers: [this.registry] });
  /** Recordings (actors/recording): streams being recorded here, the spool, uploads. */
  readonly recordingsActive = new Gauge({ name: "veza_recordings_active", help: "Streams this node is recording", registers: [this.registry] });
  readonly recordingSpoolBytes = new Gauge({ name: "veza_recording_spool_bytes", help: "Bytes of recordings in the spool, not yet uploaded (bounded by RECORD_SPOOL_MAX_MB)", registers: [this.registry] });
  readonly recordingUploads = new Counter({ name: "veza_recording_uploads_total", help: "Recording segment uploads to the object store, by result (ok; failed: retried)", labelNames: ["result"] as const, registers: [this.registry] });
  readonly recordingUploadBytes = new Counter({ name: "veza_recording_upload_bytes_total", help: "Bytes of recording segments uploaded", registers: [this.registry] });
  readonly recordingUploadSeconds = new Histogram({ name: "veza_recording_upload_seconds", help: "Time to upload one recording segment", buckets: [0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10], registers: [this.registry] });
  readonly recordingDropped = new Counter({ name: "veza_recording_dropped_seconds_total", help: "Seconds of audio not recorded because the spool was full (named as spool_full gaps in the manifest)", registers: [this.registry] });
  readonly analyticsLost = new Counter({ name: "veza_analytics_sessions_lost_total", help: "Listen sessions dropped because the analytics queue was full during a database outage", registers: [this.registry] });

  /** Frames a relay received from a stream's origin over the media bus. */
  readonly relayFramesIn = new Counter({ name: "veza_relay_frames_in_total", help: "Frames relays received from stream origins", registers: [this.registry] });
  /** Frames missing in what relays received (sequence gaps). */
  readonly relayGapFrames = new Counter({ name: "veza_relay_gap_frames_total", help: "Frames missing between sequence numbers relays received", registers: [this.registry] });
  /** Broadcasters this gateway moved to a new stream owner after losing theirs (gateway/rehome.ts), by result (ok, failed: closed with OWNER_LOST). */
  readonly rehomes = new Counter({ name: "veza_rehomes_total", help: "Broadcasters moved to a new stream owner after the owner was lost, by result (ok; failed: asked to reconnect)", labelNames: ["result"] as const, registers: [this.registry] });
  /** Per stream owner this gateway maps ticks from (actors/cluster/peer-clock.ts): 1 once its clock estimate is ready. */
  readonly peerClockReady = new Gauge({ name: "veza_peer_clock_ready", help: "1 once this node's estimate of a peer's clock (a stream owner whose sync ticks it maps) is good to serve listeners, by peer node", labelNames: ["peer"] as const, registers: [this.registry] });
  /** Peer clock minus this node's, s. */
  readonly peerClockOffset = new Gauge({ name: "veza_peer_clock_offset_seconds", help: "A peer node's clock minus this node's, seconds, as estimated over the media bus", labelNames: ["peer"] as const, registers: [this.registry] });
  /** Peer clock's rate against this node's, minus 1 (1e-6 = 1 ppm). */
  readonly peerClockDrift = new Gauge({ name: "veza_peer_clock_drift_ratio", help: "A peer node's clock rate against this node's, minus 1 (1e-6 is 1 ppm), as estimated over the media bus", labelNames: ["peer"] as const, registers: [this.registry] });
  /** Media-bus reconnections of this node (NATS). */
  readonly busReconnects = new Counter({ name: "veza_relay_reconnects_total", help: "Media bus (NATS) reconnections of this node", registers: [this.registry] });
  /**
   * Fan-out lag of this gateway, s: from a frame's instant on its stream's media clock (the lower
   * envelope of the frame arrivals at the owner, media/clock/media-clock.ts: when the owner stamps
   * a frame that came on time) to its write to the listeners' uWS topic. Owner processing, the
   * media bus and the gateway's own queueing, plus how late the frame reached the owner.
   */
  readonly fanoutLag = new Histogram({
    name: "veza_fanout_lag_seconds",
    help: "Seconds from a frame's instant on its stream's media clock to its write to the listeners' sockets on this gateway",
    buckets: [0.0005, 0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.2, 0.5, 1, 2],
    registers: [this.registry],
  });
  /** Refusals by a rate limit or quota, by limit (each label at 0 from start): actors/auth/limits-config.ts. */
  readonly rateLimited = rateLimitedCounter(this.registry);

  constructor() {
    collectDefaultMetrics({ register: this.registry, prefix: "veza_" });
    for (const reason of DROP_REASONS) this.framesDropped.inc({ reason }, 0);
    for (const result of ["ok", "failed"]) this.rehomes.inc({ result }, 0);
  }
}
