// Copies the built ES module to gateway/browser/client.js (served at GET /client.js) with a
// header naming the sha256 of the sources it was built from; tests/test_browser_assets.py
// recomputes that hash, so a source edited without a rebuild fails the Python tests.
import { createHash } from "node:crypto";
import { readFileSync, readdirSync, writeFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

const root = join(dirname(fileURLToPath(import.meta.url)), "..");

/** sha256 over each source's relative path and content, in sorted order. */
export function sourceHash() {
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

export function header(hash) {
  return `// @notification-gateway/client, built from clients/js by \`npm run build\`: do not edit.\n// sources-sha256: ${hash}\n`;
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const built = readFileSync(join(root, "dist", "index.js"), "utf8");
  const target = join(root, "..", "..", "gateway", "browser", "client.js");
  writeFileSync(target, header(sourceHash()) + built);
  console.log(`wrote ${target}`);
}
