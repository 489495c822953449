// Bundles src/ into ../../crates/web-ui/assets: app.js, app.css, index.html and
// THIRD_PARTY_NOTICES.txt (the licences of every npm package in the bundle).
// Usage: npm ci && npm run build
import * as esbuild from 'esbuild';
import { mkdir, readFile, readdir, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { fileURLToPath } from 'node:url';

const here = dirname(fileURLToPath(import.meta.url));
const out = join(here, '..', '..', 'crates', 'web-ui', 'assets');
await mkdir(out, { recursive: true });

const result = await esbuild.build({
  entryPoints: { app: join(here, 'src', 'main.js') },
  bundle: true,
  minify: true,
  format: 'iife',
  target: ['chrome100', 'firefox100', 'safari15'],
  outdir: out,
  metafile: true,
  legalComments: 'none',
  logLevel: 'warning',
});

await writeFile(
  join(out, 'index.html'),
  `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>Narthex</title>
<link rel="icon" href="data:,">
<link rel="stylesheet" href="assets/app.css">
</head>
<body>
<noscript>The Narthex UI needs JavaScript. The HTTP API is at api/v1/.</noscript>
<script src="assets/app.js" defer></script>
</body>
</html>
`,
);

// The npm packages whose files ended up in the bundle, with their licence texts.
const packages = new Set();
for (const input of Object.keys(result.metafile.inputs)) {
  const m = /node_modules\/((?:@[^/]+\/)?[^/]+)\//.exec(input);
  if (m) packages.add(m[1]);
}
let notices = 'The Narthex web UI bundles the following npm packages. Their licences follow.\n';
for (const name of [...packages].sort()) {
  const dir = join(here, 'node_modules', name);
  const pkg = JSON.parse(await readFile(join(dir, 'package.json'), 'utf8'));
  const file = (await readdir(dir)).find((f) => /^(licen[cs]e|copying)(\.|$)/i.test(f));
  const text = file ? (await readFile(join(dir, file), 'utf8')).trim() : `License: ${pkg.license} (no licence file in the package)`;
  notices += `\n${'='.repeat(78)}\n${name} ${pkg.version} (${pkg.license})\n${'='.repeat(78)}\n\n${text}\n`;
}
await writeFile(join(out, 'THIRD_PARTY_NOTICES.txt'), notices);

// Precompressed copies, served to browsers that accept gzip. zlib writes no timestamp,
// so the same input gives the same bytes.
for (const f of ['app.js', 'app.css']) {
  await writeFile(join(out, `${f}.gz`), gzipSync(await readFile(join(out, f)), { level: 9 }));
}

for (const f of ['app.js', 'app.js.gz', 'app.css', 'app.css.gz', 'index.html', 'THIRD_PARTY_NOTICES.txt']) {
  const { size } = await import('node:fs').then((fs) => fs.promises.stat(join(out, f)));
  console.log(`${f.padEnd(24)} ${(size / 1024).toFixed(1)} KiB`);
}
console.log(`bundled packages: ${[...packages].sort().join(', ')}`);
