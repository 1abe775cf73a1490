import type { Logger } from "pino";
import type { Config } from "../config";
import type { MediaBus } from "../transports";
import type { Access } from "./auth/access";
import type { Liveness } from "./cluster/liveness";
import type { PeerClocks } from "./cluster/peer-clock";
import type { ClusterStore } from "./cluster/store";
import type { NodeMetrics } from "./metrics";
import type { StreamRelay } from "./relay/stream-relay";
import type { ObjectStore } from "../transports/objects/object-store";

/** What every service of a node shares: its config, media bus, metrics and root logger. */
export interface NodeContext {
  config: Config;
  bus: MediaBus;
  metrics: NodeMetrics;
  log: Logger;
  /** Stream leases and listener sessions: Redis in a cluster, memory on one node. */
  store: ClusterStore;
  /** Relays running on this node (gateway fan-outs), by stream id. */
  relays: Map<string, StreamRelay>;
  /** Who may do what, how often, and the audit log (actors/auth/access.ts). */
  access: Access;
  /** The failure detector: which other nodes are suspected dead or frozen (actors/cluster/liveness.ts). */
  liveness: Liveness;
  /** This node's estimates of other nodes' clocks, for mapping their sync ticks (actors/cluster/peer-clock.ts). */
  peerClocks: PeerClocks;
  /** Where recordings are kept: S3 (S3_BUCKET) or DATA_DIR/recordings (transports/objects). */
  objects: ObjectStore;
  /** Absolute path of the ffmpeg binary this node runs. */
  ffmpegPath: string;
}
