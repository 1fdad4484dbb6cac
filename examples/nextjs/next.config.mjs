// The recommended way to reach eventgate: a rewrite. The browser posts to this app's own origin
// (/events/api/batch), Next.js forwards the request to eventgate, and the session cookie goes along:
// no CORS, no cookie domain to share. Rewrites are fixed when the app is built, so EVENTGATE_URL
// must be set for `next build`.
import path from "node:path"
import { fileURLToPath } from "node:url"

const eventgate = process.env.EVENTGATE_URL ?? "http://127.0.0.1:8000"

// This folder is the project root (the eventgate repository around it has other lockfiles).
const root = path.dirname(fileURLToPath(import.meta.url))

export default {
  async rewrites() {
    return [{ source: "/events/:path*", destination: `${eventgate}/:path*` }]
  },
  turbopack: { root },
  outputFileTracingRoot: root,
}
