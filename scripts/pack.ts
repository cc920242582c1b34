// `npm run pack`: a binary rock of the built plugin, installable with
// `luarocks install kong-plugin-ai-proxy-azure-0.1.0-1.all.rock` on a host
// without Node.

import { copyFileSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { basename, join } from "node:path";
import { packRock } from "../spec/support/rock.ts";

const work = mkdtempSync(join(tmpdir(), "ai-proxy-azure-pack-"));
try {
  const rock = packRock(work);
  copyFileSync(rock, basename(rock));
  console.log(`wrote ${basename(rock)}`);
} finally {
  rmSync(work, { recursive: true, force: true });
}
