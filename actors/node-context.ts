import type { Logger } from "pino";
import type { Config } from "../config";
import type { MediaBus } from "../transports";
import type { NodeMetrics } from "./metrics";

/** What every service of a node shares: its config, media bus, metrics and root logger. */
export interface NodeContext {
  config: Config;
  bus: MediaBus;
  metrics: NodeMetrics;
  log: Logger;
  /** Absolute path of the ffmpeg binary this node runs. */
  ffmpegPath: string;
}
