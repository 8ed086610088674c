// Runs the calling script again inside a private network namespace (`unshare --net`): as root a
// plain one, otherwise one owned by a new user namespace where we are root (needs unprivileged
// user namespaces). Used by blackout.mjs (real network cuts) and udp-blocked.mjs (UDP dropped).

import { spawnSync } from "node:child_process";

/**
 * Inside the namespace (`flag` set in the environment): returns. Outside: re-runs `self` inside a
 * new one and exits with its status, or, when no namespace can be made, calls `skipped(reason)`
 * and exits 0.
 */
export async function inNamespace(self, flag, skipped) {
  if (process.env[flag] === "1") return;
  const env = { ...process.env, [flag]: "1" };
  const why = [];
  for (const flags of [["--net"], ["--net", "--map-root-user"]]) {
    const probe = spawnSync("unshare", [...flags, "true"], { encoding: "utf8" });
    if (probe.status !== 0) {
      why.push(`unshare ${flags.join(" ")}: ${(probe.error?.message || probe.stderr || "").trim()}`);
      continue;
    }
    const run = spawnSync("unshare", [...flags, "--", process.execPath, self], { stdio: "inherit", env });
    process.exit(run.status ?? 1);
  }
  await skipped(`cannot create a network namespace (${why.join("; ")})`);
  process.exit(0);
}
