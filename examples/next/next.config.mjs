// StrictMode stays on: in development React mounts every component twice (effect, cleanup,
// effect), and the call component must still end up with exactly one call.
/** @type {import("next").NextConfig} */
const nextConfig = {
  reactStrictMode: true,
};

export default nextConfig;
