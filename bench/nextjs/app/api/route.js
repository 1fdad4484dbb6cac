// The original route eventgate replaces: read the session, send the event, answer success.
// Kept as the classic pattern is written (an anonymous caller sends an event with no user, a failed
// send is a 500): the bench measures it as it is.
import { getServerSession } from "next-auth"
import { authOptions } from "@/auth"
import { inngest } from "@/inngest/client"

export async function POST() {
  const session = await getServerSession(authOptions)
  await inngest.send({ name: "app/bench", data: { user: session?.user } })
  return Response.json({ success: "true" })
}
