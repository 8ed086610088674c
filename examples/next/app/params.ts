"use client";
import { useSearchParams } from "next/navigation";

/**
 * `make demo`'s local agent, unless NEXT_PUBLIC_AGENT_URL (at build time) or ?baseUrl= says
 * otherwise; the call's transport: WebRTC, or ?transport=websocket.
 */
const DEFAULT_AGENT = process.env.NEXT_PUBLIC_AGENT_URL || "http://127.0.0.1:7860";

/**
 * What the page's query string asks for. useSearchParams() makes the component render on the
 * client only (the prerendered page has the <Suspense> fallback there), which is what a call
 * needs anyway.
 */
export function useAgentParams(): { baseUrl: string; autostart: boolean; transport: "webrtc" | "websocket" } {
  const params = useSearchParams();
  return {
    baseUrl: params.get("baseUrl") || DEFAULT_AGENT,
    autostart: params.get("autostart") === "1",
    transport: params.get("transport") === "websocket" ? "websocket" : "webrtc",
  };
}
