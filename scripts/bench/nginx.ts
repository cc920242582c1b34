// Plain nginx instances for the benchmark: the fixed-header baseline and the
// fast canned upstream. They run the same nginx binary as the local runtime,
// load the same Lua modules and use the same proxy directives as its template
// (spec/support/runtime/nginx.conf.template), so that against the runtime the
// only difference is Lua: the runtime's phases and the plugin.

import { spawn, type ChildProcess } from "node:child_process";
import { chmodSync, existsSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";

const MODULE_DIRS = ["/usr/lib/nginx/modules", "/usr/share/nginx/modules"];
const LUA_MODULES = ["ndk_http_module.so", "ngx_http_lua_module.so"];


export interface NginxInstance {
  url: string;
  prefix: string;
  stop(): Promise<void>;
}


/** A fixed-header proxy location: what an operator would write without the plugin. */
export interface FixedHeaderRoute {
  /** Exact path the client requests, e.g. /openai */
  path: string;
  /** host:port of the upstream */
  upstream: string;
  /** Path the upstream gets; the client's query is appended by nginx. */
  upstreamPath: string;
  authorization: string;
}


function loadModules(): string {
  return LUA_MODULES.map((module) => {
    const dir = MODULE_DIRS.find((candidate) => existsSync(join(candidate, module)));
    if (dir === undefined) {
      throw new Error(`nginx module ${module} not found: install Debian's libnginx-mod-http-lua`);
    }
    return `load_module ${join(dir, module)};`;
  }).join("\n");
}


function mainBlock(workers: number, http: string): string {
  return `${loadModules()}
worker_processes ${workers};
error_log logs/error.log notice;
pid logs/nginx.pid;

events {
    worker_connections 16384;
    multi_accept on;
}

http {
    access_log logs/access.log;
    client_max_body_size 0;
    client_body_buffer_size 8k;
    underscores_in_headers on;
    server_tokens off;
${http}
}
`;
}


/** nginx setting a fixed Authorization header, with the runtime's proxy settings. */
export function fixedHeaderConfig(port: number, workers: number, routes: FixedHeaderRoute[]): string {
  const upstreams = routes
    .map(
      (route, index) => `
    upstream fixed_${index} {
        server ${route.upstream};
        keepalive 60;
    }`,
    )
    .join("\n");
  const locations = routes
    .map(
      (route, index) => `
        location = ${route.path} {
            proxy_http_version 1.1;
            proxy_buffering on;
            proxy_request_buffering on;
            proxy_set_header Host ${route.upstream};
            proxy_set_header Connection '';
            proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;
            proxy_set_header X-Forwarded-Proto $scheme;
            proxy_set_header X-Forwarded-Host $host;
            proxy_set_header X-Real-IP $remote_addr;
            proxy_set_header Authorization '${route.authorization}';
            proxy_pass_header Server;
            proxy_pass_header Date;
            proxy_pass http://fixed_${index}${route.upstreamPath};
        }`,
    )
    .join("\n");
  return mainBlock(
    workers,
    `${upstreams}

    server {
        listen 127.0.0.1:${port} reuseport;
${locations}
    }`,
  );
}


/** An upstream that answers every request at once with the same chat completion. */
export function cannedUpstreamConfig(port: number, workers: number, body: string): string {
  const quoted = body.replace(/\\/g, "\\\\").replace(/'/g, "\\'");
  return mainBlock(
    workers,
    `
    server {
        listen 127.0.0.1:${port} reuseport;
        access_log off;

        location / {
            default_type application/json;
            return 200 '${quoted}';
        }
    }`,
  );
}


async function answers(url: string): Promise<boolean> {
  try {
    const response = await fetch(url, { signal: AbortSignal.timeout(1_000) });
    await response.arrayBuffer();
    return true;
  } catch {
    return false;
  }
}


/** Writes the prefix and runs nginx in the foreground until stop(). */
export async function startNginx(prefix: string, port: number, config: string): Promise<NginxInstance> {
  mkdirSync(join(prefix, "logs"), { recursive: true });
  mkdirSync(join(prefix, "conf"), { recursive: true });
  // Workers of a root master run as nginx's unprivileged user.
  chmodSync(prefix, 0o755);
  writeFileSync(join(prefix, "conf/nginx.conf"), config);

  const child: ChildProcess = spawn(
    "nginx",
    ["-p", prefix, "-e", "logs/error.log", "-c", "conf/nginx.conf", "-g", "daemon off;"],
    { stdio: ["ignore", "ignore", "pipe"] },
  );
  let stderr = "";
  child.stderr?.on("data", (chunk: Buffer) => {
    stderr += chunk.toString();
  });
  const exited = new Promise<void>((resolve) => child.once("exit", () => resolve()));
  let running = true;
  void exited.then(() => {
    running = false;
  });

  const url = `http://127.0.0.1:${port}`;
  const deadline = Date.now() + 10_000;
  while (!(await answers(url))) {
    if (!running || Date.now() > deadline) {
      child.kill("SIGKILL");
      const log = existsSync(join(prefix, "logs/error.log")) ? readFileSync(join(prefix, "logs/error.log"), "utf8") : "";
      throw new Error(`nginx in ${prefix} did not start: ${stderr}${log}`.trim());
    }
    await new Promise((next) => setTimeout(next, 25));
  }

  return {
    url,
    prefix,
    stop: async () => {
      if (!running) {
        return;
      }
      child.kill("SIGQUIT");
      const timer = setTimeout(() => child.kill("SIGKILL"), 5_000);
      await exited;
      clearTimeout(timer);
    },
  };
}
