// Only for `npm run dev`: Vite's dependency pre-bundling would move agent-rtc's JS away from its
// .wasm file, which it finds next to itself (new URL(..., import.meta.url)). Builds need nothing.
export default {
  optimizeDeps: { exclude: ["agent-rtc"] },
};
