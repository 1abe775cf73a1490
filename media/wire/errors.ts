/**
 * Typed decode errors of the binary wire format. Pure: no Node or Moleculer imports, so the same
 * module runs in the browser client. The gateway maps a {@link WireError} to the catalogue code
 * `BAD_FRAME` (see actors/errors.ts) and closes nothing: one bad frame is answered, not fatal.
 */

/** Why a binary message was rejected. */
export type WireErrorReason =
  | "TOO_SHORT"
  | "TOO_LONG"
  | "UNKNOWN_VERSION"
  | "UNKNOWN_TYPE"
  | "BAD_FIELD";

/** A binary message that does not follow docs/protocol.md. */
export class WireError extends Error {
  override readonly name = "WireError";

  constructor(
    readonly reason: WireErrorReason,
    message: string,
  ) {
    super(message);
  }

  static tooShort(got: number, need: number): WireError {
    return new WireError("TOO_SHORT", `message is ${got} bytes, needs at least ${need}`);
  }

  static tooLong(got: number, max: number): WireError {
    return new WireError("TOO_LONG", `message is ${got} bytes, at most ${max} allowed`);
  }

  static unknownVersion(version: number): WireError {
    return new WireError("UNKNOWN_VERSION", `protocol version ${version} is not supported`);
  }

  static unknownType(type: number): WireError {
    return new WireError("UNKNOWN_TYPE", `message type 0x${type.toString(16)} is not known`);
  }

  static badField(field: string, why: string): WireError {
    return new WireError("BAD_FIELD", `${field}: ${why}`);
  }
}
