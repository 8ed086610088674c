"use client";
import "agent-rtc/agent-preview.js"; // registers <agent-preview> in the browser; a no-op on the server
import type {} from "agent-rtc/react"; // the JSX type of <agent-preview> and its attributes
import { useState } from "react";
import { useAgentParams } from "../params";

export function Preview() {
  const { baseUrl } = useAgentParams();
  const [state, setState] = useState("disconnected");
  return (
    <section>
      <agent-preview
        platform="pipecat-runner"
        transport="webrtc"
        base-url={baseUrl}
        onstatechange={(e) => setState(e.detail.state)}
      />
      <p>
        Widget state: <output id="widget-state">{state}</output>
      </p>
    </section>
  );
}
