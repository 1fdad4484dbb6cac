// Production build for the bench: no telemetry (NEXT_TELEMETRY_DISABLED=1 is set too), this folder
// as the root (the repository has other lockfiles).
import path from "node:path"
import { fileURLToPath } from "node:url"

const root = path.dirname(fileURLToPath(import.meta.url))

export default {
  turbopack: { root },
  outputFileTracingRoot: root,
}
