// Builds the UI into the Python package (components/hopsworks_api/webui/dist), which the
// control service serves: no Node at run time, no CDN. Swagger UI's two files go beside it
// so that /api/docs loads nothing from elsewhere either.
import { readFileSync } from "node:fs";
import { createRequire } from "node:module";
import { dirname, join } from "node:path";
import { defineConfig } from "vite";
import preact from "@preact/preset-vite";

const require = createRequire(import.meta.url);
const swaggerDir = dirname(require.resolve("swagger-ui-dist/package.json"));

function swaggerAssets() {
  return {
    name: "swagger-ui-assets",
    generateBundle() {
      for (const file of ["swagger-ui-bundle.js", "swagger-ui.css", "favicon-32x32.png"]) {
        this.emitFile({ type: "asset", fileName: `swagger/${file}`, source: readFileSync(join(swaggerDir, file)) });
      }
    },
  };
}

export default defineConfig({
  plugins: [preact(), swaggerAssets()],
  build: {
    outDir: "../components/hopsworks_api/webui/dist",
    emptyOutDir: true,
    sourcemap: false,
  },
  server: {
    // `npm run dev` against a `hops serve` on its default port
    proxy: { "/api": "http://127.0.0.1:8000" },
  },
});
