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
export { defaultSocketFactory, isFinalCloseCode, streamSocketUrl, type SocketFactory, type WebSocketLike } from "./socket";
export { decodeAudioData, encodeAudioData, AudioFlag, MEDIA_CLOCK_HZ, type AudioFrame } from "../../media/wire";
export { opusPacketInfo } from "../../media/opus/packet";
