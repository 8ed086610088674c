// Loads the SDK's WebAssembly once per page, in the browser only.
import init from "agent-rtc";

let loading: Promise<unknown> | null = null;

/**
 * Resolves once the .wasm is compiled. init() finds it itself with
 * `new URL("agent_rtc_bg.wasm", import.meta.url)`, which Next's bundler turns into a hashed
 * asset under /_next/static/media/, so no URL is passed here.
 */
export function sdkReady(): Promise<unknown> {
  loading ??= init();
  return loading;
}
