import { Suspense } from "react";
import { Preview } from "./preview";

export default function WidgetPage() {
  return (
    <main>
      <h1>agent-rtc: the &lt;agent-preview&gt; widget</h1>
      <Suspense fallback={<p>Loading…</p>}>
        <Preview />
      </Suspense>
    </main>
  );
}
