// Bundles the built ES module (dist/, from tsc) into one file, gateway/browser/client.js,
// which the gateway serves at GET /client.js. The header names the sha256 of the sources it
// was built from: tests/e2e/test_browser_assets.py recomputes it (no Node needed), and
// `node scripts/sync-browser.mjs --check` (run by tests/browser/test_js_client.py) rebuilds and compares.
import { buildSync } from "esbuild";
import { createHash } from "node:crypto";
import { readFileSync, readdirSync, writeFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

const root = join(dirname(fileURLToPath(import.meta.url)), "..");
const target = join(root, "..", "..", "gateway", "browser", "client.js");

/** sha256 over each source's relative path and content, in sorted order. */
function sourceHash() {
  const files = readdirSync(join(root, "src"))
    .filter((name) => name.endsWith(".ts"))
    .map((name) => `src/${name}`)
    .sort();
  files.push("tsconfig.json");
  const hash = createHash("sha256");
  for (const file of files) {
    hash.update(file + "\0");
    hash.update(readFileSync(join(root, file)));
    hash.update("\0");
  }
  return hash.digest("hex");
}

function bundle() {
  const out = buildSync({
    entryPoints: [join(root, "dist", "index.js")],
    bundle: true,
    format: "esm",
    target: "es2022",
    legalComments: "none",
    write: false,
  });
  const header =
    "// @notification-gateway/client, built from clients/js by `npm run build`: do not edit.\n" +
    `// sources-sha256: ${sourceHash()}\n`;
  return header + out.outputFiles[0].text;
}

const built = bundle();
if (process.argv.includes("--check")) {
  if (readFileSync(target, "utf8") !== built) {
    console.error("gateway/browser/client.js is stale: run `npm run build` in clients/js");
    process.exit(1);
  }
  console.log("gateway/browser/client.js is current");
} else {
  writeFileSync(target, built);
  console.log(`wrote ${target}`);
}
