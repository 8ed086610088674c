import { Suspense } from "react";
import { Call } from "./call";

export default function Home() {
  return (
    <main>
      <h1>agent-rtc: the SDK</h1>
      <p>
        Start a call with <code>startAndConnect()</code>. <code>?baseUrl=</code> picks the agent,{" "}
        <code>?autostart=1</code> starts the call from an effect.
      </p>
      <Suspense fallback={<p>Loading…</p>}>
        <Call />
      </Suspense>
    </main>
  );
}
