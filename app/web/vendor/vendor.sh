#!/usr/bin/env bash
# Copy the web page's front-end libraries from node_modules into app/web/vendor/<package>@<version>/, with
# their licences (and those of the packages bundled into them). Run from the repository root after `npm ci`:
#     npm ci && npm run vendor
# The versions are the exact ones pinned in package.json / package-lock.json. node_modules is not committed.
set -euo pipefail
cd "$(dirname "$0")/../../.."
vendor=app/web/vendor

version_of() { node -p "require('./node_modules/$1/package.json').version"; }

# Licence files of a package and of every package it depends on (they are bundled into its dist files).
copy_licences() {
    local package=$1 target=$2
    node - "$package" "$target" <<'JS'
const fs = require('fs');
const path = require('path');
const [pkg, target] = process.argv.slice(2);
const seen = new Set();
const names = /^(licen[cs]e|copying)(\.(md|txt))?$/i;
function visit(name) {
    if (seen.has(name)) return;
    seen.add(name);
    const dir = path.join('node_modules', name);
    const meta = JSON.parse(fs.readFileSync(path.join(dir, 'package.json'), 'utf8'));
    const files = fs.readdirSync(dir).filter((f) => names.test(f));
    const out = name === pkg ? target : path.join(target, 'licenses');
    fs.mkdirSync(out, {recursive: true});
    for (const file of files) {
        const dest = name === pkg ? file : `${name.replace('/', '__')}@${meta.version}-${file}`;
        fs.copyFileSync(path.join(dir, file), path.join(out, dest));
    }
    if (files.length === 0) {
        fs.writeFileSync(path.join(out, `${name.replace('/', '__')}@${meta.version}-LICENSE.txt`),
            `${name} ${meta.version}: ${meta.license} (no licence file in the package)\n`);
    }
    for (const dep of Object.keys(meta.dependencies || {})) {
        if (!dep.startsWith('@types/')) visit(dep);
    }
}
visit(pkg);
JS
}

# MapLibre GL JS: the ES module build, its worker (loaded from the same folder) and its stylesheet.
ml="$vendor/maplibre-gl@$(version_of maplibre-gl)"
rm -rf "$vendor"/maplibre-gl@* && mkdir -p "$ml"
cp node_modules/maplibre-gl/dist/{maplibre-gl.mjs,maplibre-gl-worker.mjs,maplibre-gl.css} "$ml/"
copy_licences maplibre-gl "$ml"

# proj4js: the minified UMD build (defines window.proj4).
pj="$vendor/proj4@$(version_of proj4)"
rm -rf "$vendor"/proj4@* && mkdir -p "$pj"
cp node_modules/proj4/dist/proj4.js "$pj/"
copy_licences proj4 "$pj"

# Noto Sans SC (fontsource): regular and bold, WOFF2 only, split by unicode-range so a page loads only the
# slices of the font its characters need. The stylesheets drop the WOFF fallbacks (every browser that runs
# MapLibre reads WOFF2).
ft="$vendor/noto-sans-sc@$(version_of @fontsource/noto-sans-sc)"
rm -rf "$vendor"/noto-sans-sc@* && mkdir -p "$ft/files"
for weight in 400 700; do
    sed -E "s/, url\([^)]*\.woff\) format\('woff'\)//" "node_modules/@fontsource/noto-sans-sc/$weight.css" > "$ft/$weight.css"
    cp node_modules/@fontsource/noto-sans-sc/files/noto-sans-sc-*-"$weight"-normal.woff2 "$ft/files/"
done
copy_licences @fontsource/noto-sans-sc "$ft"

du -sh "$vendor"/*@*
