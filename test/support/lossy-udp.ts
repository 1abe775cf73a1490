/**
 * A lossy, jittery UDP forwarder for the relay tests (this machine's kernel has no netem): packets
 * from the client to `target` are dropped with probability `loss` and each delayed by a uniform
 * random 0..`jitterMs` (so they also arrive out of order); the answers (SRT's ACKs and NAKs) come
 * back as they are. Counts what it forwarded and dropped.
 */
import dgram from "node:dgram";

export interface LossyUdp {
  port: number;
  forwarded: number;
  dropped: number;
  /** Changes the loss and jitter from now on. */
  set(o: { loss: number; jitterMs: number }): void;
  close(): void;
}

/** Listens on a free port of 127.0.0.1 and forwards to 127.0.0.1:`target`. */
export async function lossyUdp(target: number, o: { loss: number; jitterMs: number }, random: () => number = Math.random): Promise<LossyUdp> {
  const front = dgram.createSocket("udp4");
  const back = dgram.createSocket("udp4");
  let client: { address: string; port: number } | null = null;
  let cfg = { ...o };
  let closed = false;
  const send = (sock: dgram.Socket, msg: Buffer, port: number, address: string) => !closed && sock.send(msg, port, address);
  const state: LossyUdp = {
    port: 0,
    forwarded: 0,
    dropped: 0,
    set: (n) => (cfg = { ...n }),
    close: () => {
      closed = true;
      front.close();
      back.close();
    },
  };
  front.on("message", (msg, rinfo) => {
    client = { address: rinfo.address, port: rinfo.port };
    if (random() < cfg.loss) return void state.dropped++;
    state.forwarded++;
    const delay = cfg.jitterMs > 0 ? random() * cfg.jitterMs : 0;
    if (delay === 0) send(back, msg, target, "127.0.0.1");
    else setTimeout(() => send(back, msg, target, "127.0.0.1"), delay);
  });
  back.on("message", (msg) => {
    if (client) send(front, msg, client.port, client.address);
  });
  front.on("error", () => undefined);
  back.on("error", () => undefined);
  await new Promise<void>((r) => back.bind(0, "127.0.0.1", r));
  await new Promise<void>((r) => front.bind(0, "127.0.0.1", r));
  state.port = front.address().port;
  return state;
}
