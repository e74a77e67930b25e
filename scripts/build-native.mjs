// `npm install` hook: builds the C++ addon with node-gyp. A failed build is not fatal (the js backend runs, after
// one warning) unless RESNET_REQUIRE_NATIVE=1, which CI sets so that a broken build cannot hide behind the fallback.
import { spawnSync } from 'node:child_process';

const r = spawnSync('node-gyp', ['rebuild'], { stdio: 'inherit', shell: process.platform === 'win32' });
if (r.status !== 0) {
  const why = r.error ? r.error.message : `node-gyp exited with ${r.status}`;
  if (process.env.RESNET_REQUIRE_NATIVE === '1') {
    console.error(`resnet-ts: native addon build failed (${why})`);
    process.exit(1);
  }
  console.warn(`resnet-ts: native addon not built (${why}); the pure TypeScript backend will be used.`);
}
