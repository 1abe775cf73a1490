/**
 * The `auth` service, on every node: the admin check of the cluster's Moleculer actions. A caller
 * (the admin console, the HTTP API) puts its token in the call's `meta.token`; admin actions
 * (`stream.end`, `listener-session.kick`, `.list`, `.get`, `relay.start`, `relay.stop`, `auth.revoke`) check it with
 * {@link requireAdmin} on the node that runs them. NATS itself stays the perimeter: whoever can
 * publish on the cluster's NATS can call any action (docs/security.md, "The cluster's bus").
 */
import type { Context, ServiceSchema } from "moleculer";
import { z } from "zod";
import { VezaError } from "../errors";
import type { NodeContext } from "../node-context";
import type { VerifiedToken } from "./tokens";

/** `meta` of an admin call. */
export interface AdminMeta {
  /** The caller's token (JWT); never logged. */
  token?: string;
}

/**
 * Checks that the call's `meta.token` allows `admin` on `streamId` (or on the cluster, `*`).
 * The auth-failure limit is keyed by the calling node.
 * @throws VezaError UNAUTHORIZED, TOKEN_EXPIRED, FORBIDDEN, RATE_LIMITED, AUTH_UNAVAILABLE.
 */
export async function requireAdmin(node: NodeContext, ctx: Context, streamId?: string): Promise<VerifiedToken> {
  const token = (ctx.meta as AdminMeta | undefined)?.token;
  const grant = await node.access.authorize({ token: typeof token === "string" ? token : undefined, ip: `node:${ctx.nodeID ?? "?"}`, action: "admin", streamId, via: `admin:${ctx.action?.name ?? "?"}` });
  return grant!;
}

const Revoke = z.object({ jti: z.string().min(1).max(128), exp: z.number().int().positive() });

export function authService(node: NodeContext): ServiceSchema {
  return {
    name: "auth",
    actions: {
      /** Who the call's token is, if it is an admin token: `{sub, exp}`. Errors: as {@link requireAdmin}. */
      async whoami(ctx: Context) {
        const grant = await requireAdmin(node, ctx);
        return { sub: grant.sub, exp: grant.exp };
      },
      /** Revokes token `jti` until `exp` (admin). Errors: BAD_REQUEST; as {@link requireAdmin}. */
      async revoke(ctx: Context) {
        const grant = await requireAdmin(node, ctx);
        const p = Revoke.safeParse(ctx.params);
        if (!p.success) throw new VezaError("BAD_REQUEST", `auth.revoke: ${p.error.issues.map((i) => `${i.path.join(".")}: ${i.message}`).join("; ")}`);
        await node.access.verifier.revoke(p.data.jti, p.data.exp);
        node.access.auditEvent("token.revoke", { jti: p.data.jti, exp: p.data.exp, sub: grant.sub, via: "admin", from: ctx.nodeID });
        return { revoked: p.data.jti, until: p.data.exp };
      },
    },
  };
}
