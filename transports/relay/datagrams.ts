/**
 * Cuts a byte stream (MPEG-TS) into messages of a fixed size, keeping the remainder for the next
 * bytes: SRT's live mode and MPEG-TS over UDP carry 1316 bytes (7 transport packets) a message.
 * Pure apart from `emit`.
 */
export class Datagrams {
  private pending: Buffer = Buffer.alloc(0);

  constructor(
    private readonly size: number,
    private readonly emit: (message: Buffer) => void,
  ) {}

  /** Emits every whole message the bytes complete, in order. */
  push(bytes: Uint8Array): void {
    const buf = this.pending.length ? Buffer.concat([this.pending, bytes]) : Buffer.from(bytes.buffer, bytes.byteOffset, bytes.length);
    let at = 0;
    for (; at + this.size <= buf.length; at += this.size) this.emit(buf.subarray(at, at + this.size));
    // a copy: the caller may reuse the memory of `bytes`
    this.pending = Buffer.from(buf.subarray(at));
  }
}
