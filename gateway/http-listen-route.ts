/**
 * GET and HEAD /live/<id>.ogg, .mp3 and .aac on the main port: an HTTP listener (gateway/http-listeners.ts) as a
 * streaming uWS response: the headers once the stream is known live, then the Ogg/Opus pages
 * with `res.write` (chunked; no Content-Length), corked. uWS keeps what the socket did not take;
 * the bytes written since the socket last drained (onWritable) are the listener's queue.
 */
import { IcecastError, type ListenerSink, type ListenRequest } from "../transports/icecast/server";
import type { Gateway } from "./gateway";
import { remoteIp, type HttpRequest, type HttpResponse } from "./uws";

export function registerHttpListenRoute(gw: Gateway): void {
  const route = (res: HttpResponse, req: HttpRequest, head: boolean): void => {
    // everything from req before the first await: uWS invalidates it after this call
    const file = req.getParameter(0) ?? "";
    const icy = req.getHeader("icy-metadata") === "1";
    const token = new URLSearchParams(req.getQuery() ?? "").get("token") ?? undefined;
    const ip = remoteIp(res);
    let aborted = false;
    let detach: (() => void) | null = null;
    res.onAborted(() => {
      aborted = true;
      detach?.();
    });
    const m = /^([A-Za-z0-9_-]{1,64})\.(ogg|mp3|aac)$/.exec(file);
    const fail = (status: number, message: string): void => {
      res.cork(() => void res.writeStatus(String(status)).writeHeader("content-type", "text/plain; charset=utf-8").end(`${message}\n`));
    };
    if (!m) return fail(404, "listen URLs are /live/<stream id>.ogg (Ogg/Opus), /live/<stream id>.mp3 or .aac (an MP3 or AAC source's own bytes)");
    if (gw.draining) return fail(503, "this gateway is draining; connect to another one");
    const listenReq: ListenRequest = { streamId: m[1]!, format: m[2] as "ogg" | "mp3" | "aac", icy, ip, token, head };
    gw.httpListeners.headers(listenReq).then(
      (headers) => {
        if (aborted) return void listenReq.slot?.release();
        res.cork(() => {
          res.writeStatus("200 OK");
          for (const [k, v] of Object.entries({ ...headers, "Cache-Control": "no-cache, no-store", "Access-Control-Allow-Origin": "*" })) res.writeHeader(k, v);
          if (head) res.endWithoutBody();
        });
        if (head) return;
        let queued = 0;
        let closed = false;
        const sink: ListenerSink = {
          write: (bytes) => {
            if (aborted || closed) return 0;
            let ok = true;
            res.cork(() => (ok = res.write(bytes)));
            if (!ok) {
              if (queued === 0) res.onWritable(() => ((queued = 0), true));
              queued += bytes.length;
            }
            return queued;
          },
          close: () => {
            if (aborted || closed) return;
            closed = true;
            detach?.();
            res.close();
          },
        };
        detach = gw.httpListeners.attach(listenReq, sink);
        // dropped while attaching (its burst alone past the backpressure limit): close found no detach yet
        if (closed || aborted) detach();
      },
      (err: unknown) => {
        if (aborted) return;
        if (!(err instanceof IcecastError)) return fail(500, err instanceof Error ? err.message : "refused");
        res.cork(() => {
          res.writeStatus(String(err.status)).writeHeader("content-type", "text/plain; charset=utf-8");
          for (const [k, v] of Object.entries(err.headers)) res.writeHeader(k, v);
          res.end(`${err.message}\n`);
        });
      },
    );
  };
  gw.app.get("/live/:file", (res, req) => route(res, req, false));
  gw.app.head("/live/:file", (res, req) => route(res, req, true));
}
