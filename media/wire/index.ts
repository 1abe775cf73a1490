/** The veza-stream binary wire format: pure encode/decode, documented in docs/protocol.md. */
export * from "./constants";
export * from "./errors";
export * from "./audio-data";
