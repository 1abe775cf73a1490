/**
 * A relay endpoint from its URI: `srt://` (transports/srt/uri.ts) or `rist://`
 * (transports/rist/relay-endpoints.ts), as an input or an output. Shared by `veza-stream relay` and
 * the gateway's remote relays.
 */
import type { Logger } from "pino";
import { ristUnavailable } from "../rist/librist";
import { parseRistUri, RistInput, RistOutput, RistUriError } from "../rist/relay-endpoints";
import { srtUnavailable } from "../srt/libsrt";
import { SrtInput, SrtOutput } from "../srt/relay-endpoints";
import { parseSrtUri, UriError } from "../srt/uri";
import type { RelayInput, RelayOutput } from "./endpoint";

/** A URI the relay cannot take; `message` never repeats a secret. */
export class EndpointUriError extends Error {
  override readonly name = "EndpointUriError";
}

/** The protocol's library is not built or does not load here; `message` says how to get it. */
export class EndpointUnavailable extends Error {
  override readonly name = "EndpointUnavailable";
}

/** The URI's scheme: `srt`, `rist`, or what else it names ("" for none). */
export const schemeOf = (uri: string): string => /^([a-z]+):\/\//.exec(uri)?.[1] ?? "";

/**
 * Opens nothing yet (the endpoint's `start` does): parses the URI and checks the library.
 * @throws EndpointUriError, EndpointUnavailable.
 */
export function relayEndpoint(uri: string, direction: "in", log: Logger): RelayInput;
export function relayEndpoint(uri: string, direction: "out", log: Logger): RelayOutput;
export function relayEndpoint(uri: string, direction: "in" | "out", log: Logger): RelayInput | RelayOutput {
  const scheme = schemeOf(uri);
  try {
    if (scheme === "srt") {
      const why = srtUnavailable();
      if (why) throw new EndpointUnavailable(why);
      const u = parseSrtUri(uri);
      const l = log.child({ direction, endpoint: u.display });
      return direction === "in" ? new SrtInput(u, l) : new SrtOutput(u, l);
    }
    if (scheme === "rist") {
      const why = ristUnavailable();
      if (why) throw new EndpointUnavailable(why);
      const u = parseRistUri(uri);
      const l = log.child({ direction, endpoint: u.display });
      return direction === "in" ? new RistInput(u, l) : new RistOutput(u, l);
    }
  } catch (err) {
    if (err instanceof UriError || err instanceof RistUriError) throw new EndpointUriError(err.message);
    throw err;
  }
  throw new EndpointUriError(`${scheme ? `${scheme}://` : uri.slice(0, 40)}: the relay takes srt:// or rist:// URIs`);
}
