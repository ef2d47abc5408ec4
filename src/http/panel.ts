// The events panel's files (src/http/panel/: one HTML page, a script, a stylesheet; `make build`
// copies them beside the compiled module), read once at start-up and served from memory.
import { existsSync, readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

export interface PanelAsset {
  body: Buffer;
  contentType: string;
}

const FILES: Record<string, string> = {
  'index.html': 'text/html; charset=utf-8',
  'panel.js': 'text/javascript; charset=utf-8',
  'panel.css': 'text/css; charset=utf-8',
};

/** Only same-origin scripts, styles and API calls; no framing. */
export const PANEL_CSP =
  "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; img-src 'self' data:; " +
  "base-uri 'none'; form-action 'none'; frame-ancestors 'none'";

/** Beside this module: src/http/panel/, or dist/src/http/panel/ where `make build` copies them. */
function panelDir(): string {
  const beside = fileURLToPath(new URL('./panel/', import.meta.url));
  if (existsSync(`${beside}index.html`)) return beside;
  throw new Error(`events panel assets not found in ${beside} (make build copies them there)`);
}

/** name (index.html, panel.js, panel.css) → contents. */
export function loadPanelAssets(): Map<string, PanelAsset> {
  const dir = panelDir();
  const assets = new Map<string, PanelAsset>();
  for (const [name, contentType] of Object.entries(FILES)) {
    assets.set(name, { body: readFileSync(`${dir}${name}`), contentType });
  }
  return assets;
}
