// The Inngest client, configured from the environment as the SDK does by default:
// INNGEST_EVENT_KEY, and INNGEST_EVENT_API_BASE_URL / INNGEST_BASE_URL (the bench's loopback stand-in).
import { Inngest } from "inngest"

export const inngest = new Inngest({ id: "nextjs-route" })
