// Prints the size of dist/index.js minified (esbuild) and gzipped: the figure a page pays.
import { buildSync } from "esbuild";
import { gzipSync } from "node:zlib";

const out = buildSync({
  entryPoints: ["dist/index.js"],
  bundle: true,
  minify: true,
  format: "esm",
  write: false,
});
const code = out.outputFiles[0].contents;
const gz = gzipSync(code, { level: 9 });
console.log(`minified ${code.length} B, minified+gzip ${gz.length} B`);
