/**
 * The veza-stream client SDK core: what the browser pages share and what Node can use as it is.
 * No DOM, no Web Audio, no `node:` imports. The browser parts (decoders, encoders, audio graph)
 * are in ../browser; the AudioWorklet processors in ../worklets.
 */
export { Backoff, type BackoffOptions } from "./backoff";
export { Emitter } from "./emitter";
export type { BroadcasterStats, DecoderKind, EncoderKind, PlayerStats } from "./stats";
export { JitterBuffer, type JitterBufferOptions, type JitterStats } from "./jitter-buffer";
export { ListenConnection, type ListenConnectionOptions, type ListenCounters, type ListenEvents, type ListenState } from "./listen-connection";
export { PublishConnection, type PublishEvents, type PublishOptions, type PublishState } from "./publish-connection";
export { codeOfReason, defaultSocketFactory, isFinalCloseCode, RATE_LIMITED_DELAY_MS, streamSocketUrl, type SocketFactory, type SocketInit, type WebSocketLike } from "./socket";
export { AUTH_ERROR_CODES, bearerHeaders, isAuthErrorCode, SessionToken, withQuery, type AuthEvent, type AuthMessage, type TokenPlacement, type TokenSource } from "./auth";
export { decodeAudioData, encodeAudioData, AudioFlag, MEDIA_CLOCK_HZ, type AudioFrame } from "../../media/wire";
export { opusPacketInfo } from "../../media/opus/packet";
