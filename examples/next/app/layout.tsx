import type { Metadata } from "next";
import type { ReactNode } from "react";

export const metadata: Metadata = {
  title: "agent-rtc with Next.js",
};

export default function RootLayout({ children }: { children: ReactNode }) {
  return (
    <html lang="en">
      <body style={{ fontFamily: "system-ui, sans-serif", margin: "2rem", maxWidth: "40rem" }}>
        <nav style={{ display: "flex", gap: "1rem", marginBottom: "1rem" }}>
          <a href="/">SDK</a>
          <a href="/widget">Widget</a>
        </nav>
        {children}
      </body>
    </html>
  );
}
