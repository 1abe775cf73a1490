/**
 * The listener-session actor as a Moleculer service, `listener-session`, on every gateway node:
 * one session per connected listener, whatever its door (WebSocket, HTTP on either port, an SRT
 * reader, an operator's push relay), held by the gateway that holds its connection. Operators list,
 * read and kick sessions (admin on the session's stream); the gateway emits `session.start` and
 * `session.end` for each (actors/contract.ts SessionEventPayloads), which analytics consumes.
 */
import type { Context, ServiceSchema } from "moleculer";
import type { Gateway } from "../../gateway/gateway";
import { requireAdmin } from "../auth/service";
import { parseParams, type SessionInfo } from "../contract";
import { VezaError } from "../errors";
import type { NodeContext } from "../node-context";

/** The view of a WebSocket listener's session. */
function wsInfo(gw: Gateway, ws: NonNullable<ReturnType<Gateway["sessions"]["get"]>>): SessionInfo | undefined {
  const d = ws.getUserData();
  return d.session ? d.session.info(gw.broker.nodeID, gw.fanout.framesPublished(d.streamId), d.grant?.sub) : undefined;
}

/** Every session on this gateway, optionally of one stream. */
function sessions(gw: Gateway, streamId?: string): SessionInfo[] {
  const out: SessionInfo[] = [];
  for (const ws of gw.sessions.values()) {
    const info = !streamId || ws.getUserData().streamId === streamId ? wsInfo(gw, ws) : undefined;
    if (info) out.push(info);
  }
  return [...out, ...gw.httpListeners.list(streamId)];
}

/** @param gateway this node's gateway once it listens. */
export function listenerSessionService(node: NodeContext, gateway: () => Gateway | null): ServiceSchema {
  /** The session, after checking the caller is admin on its stream. @throws VezaError SESSION_NOT_FOUND (after an admin check on the cluster: an unknown id tells nothing to others). */
  const find = async (ctx: Context, sessionId: string): Promise<SessionInfo> => {
    const gw = gateway();
    const ws = gw?.sessions.get(sessionId);
    const found = gw && (ws ? wsInfo(gw, ws) : gw.httpListeners.get(sessionId));
    await requireAdmin(node, ctx, found?.streamId);
    if (!found) throw new VezaError("SESSION_NOT_FOUND", `no listener session ${sessionId} on this gateway`);
    return found;
  };
  return {
    name: "listener-session",
    actions: {
      async list(ctx: Context) {
        const p = parseParams("listener-session.list", ctx.params);
        await requireAdmin(node, ctx, p.streamId);
        const gw = gateway();
        return gw ? sessions(gw, p.streamId) : [];
      },
      async get(ctx: Context) {
        return find(ctx, parseParams("listener-session.get", ctx.params).sessionId);
      },
      async kick(ctx: Context) {
        const { sessionId } = parseParams("listener-session.kick", ctx.params);
        const session = await find(ctx, sessionId);
        const admin = await requireAdmin(node, ctx, session.streamId);
        const gw = gateway()!;
        const ws = gw.sessions.get(sessionId);
        if (ws) {
          if (!ws.getUserData().closed) ws.end(1008, "kicked");
        } else {
          gw.httpListeners.kick(sessionId);
        }
        node.access.auditEvent("listener.kick", { sessionId, streamId: session.streamId, kind: session.kind, sub: admin.sub, from: ctx.nodeID });
        return { kicked: sessionId };
      },
    },
  };
}
