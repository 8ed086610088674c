"use client";
import { useEffect, useRef, useState } from "react";
import { isAgentRtcError, startAndConnect, type Connection } from "agent-rtc";
import { sdkReady } from "./sdk";
import { useAgentParams } from "./params";

/**
 * One call to the agent, owned by an effect: `wanted` turns it on and off (the button, or
 * ?autostart=1 from the first render). Every run of the effect starts its own call with its own
 * AbortController; its cleanup aborts that start if still pending and disconnects the call if it
 * connected. React StrictMode's development double mount (run, cleanup, run) therefore leaves
 * exactly one call: the first run's start is aborted before it can connect.
 */
export function Call() {
  const { baseUrl, autostart, transport } = useAgentParams();
  const [wanted, setWanted] = useState(autostart);
  const [state, setState] = useState("disconnected");
  const audio = useRef<HTMLAudioElement>(null);
  const current = useRef(0); // which run's call is the one shown

  useEffect(() => {
    if (!wanted) return;
    const run = ++current.current;
    const mine = () => current.current === run;
    const abort = new AbortController();
    let conn: Connection | null = null;
    // In development StrictMode runs this effect, its cleanup, then the effect again: the console
    // shows it (run 1 aborted before it sent anything, run 2 the call).
    console.info(`agent-rtc example: call effect run ${run}`);
    setState("connecting");

    (async () => {
      await sdkReady();
      const c = await startAndConnect({
        platform: "pipecat-runner",
        baseUrl,
        transport,
        signal: abort.signal,
      });
      if (abort.signal.aborted) {
        // Cleaned up while the connect was resolving: this call is nobody's.
        await c.disconnect();
        return;
      }
      conn = c;
      if (audio.current) audio.current.srcObject = c.remoteStream; // the bot's voice
      c.on("statechange", () => mine() && setState(c.state));
      c.on("disconnected", () => mine() && setWanted(false)); // the call ended by itself
      setState(c.state);
    })().catch((e: unknown) => {
      if (abort.signal.aborted) return; // our own cleanup, not a failure
      if (mine()) {
        setState(isAgentRtcError(e) ? `failed: ${e.code}` : `failed: ${String(e)}`);
        setWanted(false);
      }
    });

    return () => {
      console.info(`agent-rtc example: call effect cleanup ${run}`);
      abort.abort();
      const c = conn;
      conn = null;
      if (audio.current) audio.current.srcObject = null;
      // Shown once everything is released, unless a newer run took over meanwhile.
      void (c ? c.disconnect() : Promise.resolve()).then(() => {
        if (mine()) setState((s) => (s.startsWith("failed") ? s : "disconnected"));
      });
    };
  }, [wanted, baseUrl, transport]);

  const busy = wanted && state !== "connected";
  return (
    <section>
      <p>
        Agent: <code id="agent">{baseUrl}</code>
      </p>
      <p>
        <button id="toggle" type="button" onClick={() => setWanted((w) => !w)}>
          {wanted ? "Stop" : "Start"}
        </button>{" "}
        State: <output id="state">{state}</output>
        {busy ? " …" : null}
      </p>
      <audio ref={audio} autoPlay />
    </section>
  );
}
