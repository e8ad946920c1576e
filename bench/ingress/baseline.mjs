// Baseline for bench/ingress: a Node server on @octokit/webhooks that verifies the signature and routes
// the event (no storage), as the issue asks. Usage: node baseline.mjs <port> <secret>
import { createRequire } from "node:module";
import http from "node:http";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

const here = dirname(fileURLToPath(import.meta.url));
const require = createRequire(join(here, "../../tests/contract/package.json"));
const { Webhooks, createNodeMiddleware } = await import(require.resolve("@octokit/webhooks"));

const [port, secret] = [Number(process.argv[2] || 8090), process.argv[3] || "bench-secret"];
const webhooks = new Webhooks({ secret });
let handled = 0;
webhooks.on("issue_comment.created", () => { handled++; });
const middleware = createNodeMiddleware(webhooks, { path: "/webhook" });
http.createServer(middleware).listen(port, "127.0.0.1", () => {
  console.log(`baseline listening on http://127.0.0.1:${port}`);
});
process.on("SIGTERM", () => { console.log(`baseline handled ${handled}`); process.exit(0); });
