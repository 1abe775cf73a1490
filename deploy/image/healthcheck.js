// The image's HEALTHCHECK: exit 0 when the node on this container answers GET /health with 200
// within 2 s, else 1. Plain JavaScript run by node itself (the slim image has no curl or wget).
"use strict";
const http = require("node:http");

const port = Number(process.env.PORT) || 8080;
// the node listens on HOST (default 0.0.0.0, every address): ask loopback unless it is bound elsewhere
const bound = process.env.HOST;
const host = !bound || bound === "0.0.0.0" || bound === "::" ? "127.0.0.1" : bound;

const req = http.get({ host, port, path: "/health", timeout: 2000 }, (res) => {
  res.resume();
  process.exit(res.statusCode === 200 ? 0 : 1);
});
req.on("timeout", () => req.destroy(new Error("timeout")));
req.on("error", (err) => {
  process.stderr.write(`healthcheck: ${host}:${port}/health: ${err.message}\n`);
  process.exit(1);
});
