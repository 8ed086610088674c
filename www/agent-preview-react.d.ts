// JSX types of <agent-preview> for React 19 (@types/react 19): the element with its attributes,
// React's own props (className, style, ref, key, ...) and its events as lowercase `on` props, which
// React 19 adds as listeners on custom elements (`onstatechange` listens to "statechange").
//
//   import "agent-rtc/agent-preview.js"; // registers the element (in the browser)
//   import type {} from "agent-rtc/react"; // types <agent-preview> in JSX
//   <agent-preview platform="pipecat-runner" base-url={url} onstatechange={(e) => show(e.detail.state)} />

import type { DetailedHTMLProps, HTMLAttributes } from "react";
import type { AgentPreview, AgentPreviewAttributes, AgentPreviewEvents } from "./agent-preview.js";

/** `on<event>` listener props for the element's own events, typed by their detail. */
export type AgentPreviewListeners = {
  [K in keyof AgentPreviewEvents as `on${K}`]?: (event: AgentPreviewEvents[K]) => void;
};

/** Everything <agent-preview> takes in JSX. */
export type AgentPreviewProps = Omit<
  DetailedHTMLProps<HTMLAttributes<AgentPreview>, AgentPreview>,
  keyof AgentPreviewAttributes | keyof AgentPreviewListeners
> &
  AgentPreviewAttributes &
  AgentPreviewListeners;

declare module "react" {
  namespace JSX {
    interface IntrinsicElements {
      "agent-preview": AgentPreviewProps;
    }
  }
}
