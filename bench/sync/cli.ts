/**
 * Command-line options that bench/sync (index.ts) and its offline model (offline.ts) share, so
 * both take the same run shape and ping schedule in the same words.
 */
import type { ParseArgsConfig } from "node:util";
import { DEFAULT_PING_SCHEDULE, type PingSchedule } from "../../media/clock/clock-pinger";

export const SHARED_OPTIONS = {
  listeners: { type: "string", default: "100" },
  seconds: { type: "string", default: "180" },
  /** Max simulated jitter per direction, ms (uniform). */
  "up-jitter": { type: "string", default: "20" },
  "down-jitter": { type: "string", default: "10" },
  /** Clock ping schedule, ms: burst,burstFor,settle,settleFor,steady (default the SDK's). */
  ping: { type: "string" },
} as const satisfies NonNullable<ParseArgsConfig["options"]>;

/**
 * `--ping` text to a schedule; undefined gives the SDK's.
 * @throws Error unless it is 5 positive numbers.
 */
export function parsePingSchedule(text: string | undefined): PingSchedule {
  if (text === undefined) return DEFAULT_PING_SCHEDULE;
  const [burstMs, burstForMs, settleMs, settleForMs, steadyMs] = text.split(",").map(Number);
  const schedule = { burstMs, burstForMs, settleMs, settleForMs, steadyMs };
  if (Object.values(schedule).some((v) => !(Number(v) > 0))) throw new Error(`--ping wants 5 positive numbers (ms): ${text}`);
  return schedule as PingSchedule;
}
