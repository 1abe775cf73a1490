/**
 * The offline model of bench/sync: N listeners' ClockSync (media/clock/clock-sync.ts) fed
 * synthetic exchanges with known truth, no processes or sockets. Each exchange's one-way delays
 * are simulated jitter (uniform 0..up/down ms, as bench/sync's JitterLink) plus, optionally,
 * "real" delay drawn from the distribution bench/sync recorded (`--delays-out`). Listeners join
 * uniformly over 20 s, with clocks offset uniformly in ±1 s and drifting uniformly in ±200 ppm,
 * pinged on a PingSchedule with each interval dithered to 0.5–1.5× (media/clock/clock-pinger.ts).
 * Used by bench/sync/offline.ts and test/unit/clock-convergence.test.ts.
 */
import { ClockSync } from "../../media/clock/clock-sync";
import { pingIntervalMs, type PingSchedule } from "../../media/clock/clock-pinger";
import { seededRandom } from "./virtual-clock";

/** Real one-way delays as bench/sync --delays-out writes them: µs, each 1001 quantiles p0, p0.1, … p100. */
export interface RecordedDelays {
  up: number[];
  down: number[];
}

export interface OfflineModelOptions {
  listeners: number;
  /** Each listener's time from join, s. */
  seconds: number;
  /** Simulated jitter per direction, ms (uniform 0..max). */
  upJitterMs: number;
  downJitterMs: number;
  schedule: PingSchedule;
  /** ClockSync's window, s. */
  windowS: number;
  /** ClockSync's floor resolution ε, µs. */
  floorResolutionUs: number;
  seed: number;
  /** Real delays added to the jitter; null for none. */
  real: RecordedDelays | null;
  /** Hand each ClockSync its clock's true drift (an oracle: what is left is the offset's error). */
  trueDrift?: boolean;
}

export interface OfflineListener {
  /** When it joined, µs of true time. */
  joinUs: number;
  /** Clock-sync error (estimated minus true cluster time, µs) every 100 ms from 1 s after join. */
  errorsUs: number[];
  /** Drift error (estimated minus true, ppm) at the same instants. */
  driftErrorsPpm: number[];
}

/** Samples of {@link OfflineListener.errorsUs}: every STEP_S from FIRST_S after join. */
export const STEP_S = 0.1;
export const FIRST_S = 1;
/** True time of the model's start, µs (about 2027 in µs since 1970, so that doubles carry what real clocks would). */
export const EPOCH_US = 1.8e15;

/** Runs the model; listeners in join order of their draw (not sorted). */
export function runOfflineModel(o: OfflineModelOptions): OfflineListener[] {
  const random = seededRandom(o.seed);
  /** A draw from a distribution given by its quantiles at equal steps (inverse transform, linear between them). */
  const draw = (q: number[]) => {
    const u = random() * (q.length - 1);
    const i = Math.floor(u);
    return q[i]! + (u - i) * ((q[i + 1] ?? q[i]!) - q[i]!);
  };
  const realUp = () => (o.real ? draw(o.real.up) : 0);
  const realDown = () => (o.real ? draw(o.real.down) : 0);
  const { burstMs, burstForMs, settleMs, settleForMs, steadyMs } = o.schedule;
  const out: OfflineListener[] = [];
  for (let l = 0; l < o.listeners; l++) {
    const offsetUs = (random() * 2 - 1) * 1e6;
    const driftPpm = (random() * 2 - 1) * 200;
    const local = (t: number) => t * (1 + driftPpm / 1e6) + offsetUs;
    // θ = cluster − local falls by (1 − 1/(1 + drift)) per µs of client time
    const trueSlopePpm = (1 / (1 + driftPpm / 1e6) - 1) * 1e6;
    const sync = new ClockSync({ windowUs: o.windowS * 1e6, floorResolutionUs: o.floorResolutionUs, knownDriftPpm: o.trueDrift ? trueSlopePpm : undefined });
    const start = EPOCH_US + random() * 20e6;
    const exchanges: Array<{ at: number; t: [number, number, number, number] }> = [];
    for (let t = start; t - start < o.seconds * 1e6; ) {
      const t1 = t + random() * o.upJitterMs * 1000 + realUp();
      const t2 = t1 + 15;
      const t3 = t2 + random() * o.downJitterMs * 1000 + realDown();
      exchanges.push({ at: t3, t: [local(t), t1, t2, local(t3)] });
      t += 1000 * pingIntervalMs(o.schedule, (t - start) / 1000) * (0.5 + random());
    }
    exchanges.sort((a, b) => a.at - b.at);
    let k = 0;
    const errorsUs: number[] = [];
    const driftErrorsPpm: number[] = [];
    for (let t = start + FIRST_S * 1e6; t - start < o.seconds * 1e6; t += STEP_S * 1e6) {
      while (k < exchanges.length && exchanges[k]!.at <= t) sync.add(...exchanges[k++]!.t);
      errorsUs.push(sync.toCluster(local(t)) - t);
      driftErrorsPpm.push(sync.driftPpm - trueSlopePpm);
    }
    out.push({ joinUs: start, errorsUs, driftErrorsPpm });
  }
  return out;
}

/**
 * bench/sync's "converged", against the truth: the age (s) from which at most 1 % of a
 * listener's samples are more than `toleranceUs` off (the ±100 µs that a 0.2 ms spread allows).
 */
export function convergedAfterS(errorsUs: number[], toleranceUs = 100): number {
  let bad = 0;
  let from = errorsUs.length;
  for (let i = errorsUs.length - 1; i >= 0; i--) {
    if (Math.abs(errorsUs[i]!) > toleranceUs) bad++;
    if (bad <= 0.01 * (errorsUs.length - i)) from = i;
  }
  return FIRST_S + from * STEP_S;
}

/** The stretches (ages from, to, s) in which a listener's error is past `toleranceUs`. */
export function badStretches(errorsUs: number[], toleranceUs = 100): Array<[number, number]> {
  const out: Array<[number, number]> = [];
  for (let i = 0; i < errorsUs.length; i++) {
    if (Math.abs(errorsUs[i]!) <= toleranceUs) continue;
    const age = FIRST_S + i * STEP_S;
    const last = out[out.length - 1];
    if (last && age - last[1] <= STEP_S * 1.5) last[1] = age;
    else out.push([age, age]);
  }
  return out;
}
