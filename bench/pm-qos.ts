/**
 * Holds the CPUs out of their idle states for the life of the process, through the kernel's PM QoS
 * interface (/dev/cpu_dma_latency: write a 32-bit 0 µs limit and keep the file open;
 * docs: Documentation/power/pm_qos_interface.rst). On this VM the idle driver (haltpoll) otherwise
 * halts an idle vCPU, and waking it costs tens of µs on every message that finds its process
 * asleep. Latency benchmarks do the same (rt-tests' cyclictest sets it by default); it costs a
 * spinning idle loop, so it is opt-in (--pm-qos) and reported as its own row.
 *
 * @throws Error when the device cannot be opened (needs root; absent on some kernels).
 */
import fs from "node:fs";

const DEVICE = "/dev/cpu_dma_latency";

export function holdCpusAwake(): void {
  let fd: number;
  try {
    fd = fs.openSync(DEVICE, "w");
  } catch (err) {
    throw new Error(`--pm-qos: cannot open ${DEVICE} (${(err as Error).message}); it needs root`);
  }
  fs.writeSync(fd, Buffer.from(new Int32Array([0]).buffer));
  // the request lasts while the file is open: keep the descriptor until the process exits
}
