/**
 * Admin sockets, /ws/admin: operators' dashboards get pushed what the cluster learns, today the
 * listening figures of each stream (`analytics.update`, from the analytics service, at most every
 * 2 s a stream while its sessions change). The upgrade needs a token with an `admin` scope (Bearer
 * header or `?token=`); a socket gets the streams its scopes name (`admin:*`: all), first the last
 * figures this gateway saw of each, then every update. Receive-only: a message from the client is
 * answered with a BAD_REQUEST error. Like a listener's, the socket is told `auth.expiring` ahead of
 * its token's `exp` and closed at it (TOKEN_EXPIRED, 4401): a dashboard reconnects with a new
 * token. docs/protocol.md, "Admin socket".
 */
import type { VerifiedToken } from "../actors/auth/tokens";
import { allows } from "../actors/auth/scopes";
import type { EventPayloads } from "../actors/contract";
import { VezaError, errorCodeOf } from "../actors/errors";
import { admitConnection, TokenExpiry, upgradeToken } from "./auth";
import type { Gateway } from "./gateway";
import { isValidHandshake, readUpgrade, upgradeAfterAdmission, type WebSocket } from "./uws";

type AnalyticsUpdate = EventPayloads["analytics.update"];

interface AdminData {
  kind: "admin";
  grant: VerifiedToken;
  closed: boolean;
  expiry: TokenExpiry | null;
}

export class AdminSockets {
  private readonly sockets = new Set<WebSocket<AdminData>>();
  /** The last update of each stream, for sockets that open later. */
  private readonly last = new Map<string, AnalyticsUpdate>();

  constructor(private readonly gw: Gateway) {
    gw.app.ws<AdminData>("/ws/admin", {
      maxPayloadLength: 4096,
      idleTimeout: 60,
      sendPingsAutomatically: true,
      upgrade: (res, req, context) => {
        const u = readUpgrade(res, req);
        if (!isValidHandshake(u)) return gw.rejectUpgrade(res, "UPGRADE_REQUIRED");
        let aborted = false;
        res.onAborted(() => (aborted = true));
        void (async () => {
          if (!(await admitConnection(gw, res, u, () => aborted))) return;
          let grant: VerifiedToken;
          try {
            grant = await gw.access.authenticate({ token: upgradeToken(u), ip: u.ip, action: "admin", via: "ws.admin" });
            if (!grant.scopes.some((s) => s.action === "admin")) throw new VezaError("FORBIDDEN", `the token of ${grant.sub} has no admin scope`);
          } catch (err) {
            if (!aborted) gw.rejectUpgrade(res, errorCodeOf(err), (err as Error).message);
            return;
          }
          if (aborted) return;
          upgradeAfterAdmission<AdminData>(res, { kind: "admin", grant, closed: false, expiry: null }, u, context);
        })();
      },
      open: (ws) => {
        this.sockets.add(ws);
        const data = ws.getUserData();
        const { grant } = data;
        data.expiry = new TokenExpiry(
          (text) => !data.closed && ws.cork(() => ws.send(text, false)),
          () => gw.closeListener(ws, "TOKEN_EXPIRED", `the token of ${grant.sub} expired`),
        );
        data.expiry.renew(grant.exp);
        ws.send(JSON.stringify({ type: "admin.hello", nodeID: gw.broker.nodeID, sub: grant.sub }), false);
        for (const u of this.last.values()) if (allows(grant.scopes, "admin", u.streamId)) ws.send(JSON.stringify({ type: "analytics.update", ...u }), false);
      },
      message: (ws) => {
        ws.send(JSON.stringify({ type: "error", code: "BAD_REQUEST", message: "the admin socket takes no messages" }), false);
      },
      close: (ws) => {
        ws.getUserData().closed = true;
        ws.getUserData().expiry?.stop();
        this.sockets.delete(ws);
      },
    });
  }

  /** Admin sockets open on this gateway. */
  get count(): number {
    return this.sockets.size;
  }

  /** An analytics.update event: kept, and sent to each socket whose token may administer the stream. */
  analyticsUpdate(u: AnalyticsUpdate): void {
    this.last.set(u.streamId, u);
    const text = JSON.stringify({ type: "analytics.update", ...u });
    for (const ws of this.sockets) {
      if (!ws.getUserData().closed && allows(ws.getUserData().grant.scopes, "admin", u.streamId)) ws.send(text, false);
    }
  }
}
