// Installing the plugin the way Kong finds it: luarocks, into a tree whose
// share/lua/5.1 goes on KONG_LUA_PACKAGE_PATH.

import { execFileSync } from "node:child_process";
import { readdirSync } from "node:fs";
import { join } from "node:path";
import { REPO_ROOT } from "./runtime/gateway.ts";

export const ROCKSPEC = "kong-plugin-ai-proxy-azure-0.1.0-1.rockspec";
const ROCK_NAME = "kong-plugin-ai-proxy-azure";
const ROCK_VERSION = "0.1.0-1";

function luarocks(args: string[], cwd = REPO_ROOT): string {
  return execFileSync("luarocks", args, { cwd, encoding: "utf8", stdio: ["ignore", "pipe", "pipe"] });
}

/** `luarocks make` of the repo's rockspec (the Lua must be built) into tree. */
export function makeRock(tree: string): void {
  luarocks(["make", "--tree", tree, ROCKSPEC]);
}

/** Makes a binary rock (pure Lua: "all" architecture) in outDir and returns its path. */
export function packRock(outDir: string): string {
  const tree = join(outDir, "tree");
  makeRock(tree);
  luarocks(["pack", "--tree", tree, ROCK_NAME, ROCK_VERSION], outDir);
  const rock = readdirSync(outDir).find((file) => file.endsWith(".rock"));
  if (rock === undefined) {
    throw new Error(`luarocks pack wrote no .rock into ${outDir}`);
  }
  return join(outDir, rock);
}

/** Installs a packed .rock with luarocks alone, as on a Kong host without Node. */
export function installRock(rock: string, tree: string): void {
  luarocks(["install", "--tree", tree, "--deps-mode", "none", rock]);
}

/** The KONG_LUA_PACKAGE_PATH under which Kong finds modules installed into tree. */
export function luaPathOf(tree: string): string {
  return `${tree}/share/lua/5.1/?.lua;${tree}/share/lua/5.1/?/init.lua`;
}
