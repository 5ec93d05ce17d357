// Bundles src/main.ts with the SDK into dist/app.js and copies the page beside it: dist/ is
// what `coderai gateway --static web/dist` serves at "/".
import { copyFile, mkdir, rm } from "node:fs/promises";

import { build } from "esbuild";

const outdir = new URL("dist/", import.meta.url);
await rm(outdir, { recursive: true, force: true });
await mkdir(outdir, { recursive: true });
await build({
  entryPoints: [new URL("src/main.ts", import.meta.url).pathname],
  outfile: new URL("app.js", outdir).pathname,
  bundle: true,
  format: "esm",
  target: "es2022",
  minify: true,
  sourcemap: true,
  logLevel: "warning",
});
for (const file of ["index.html", "style.css"]) {
  await copyFile(new URL(file, import.meta.url), new URL(file, outdir));
}
