// The page: who is signed in (read on the server by NextAuth), and buttons that record events.
import { getServerSession } from "next-auth"
import { authOptions } from "@/auth"
import EventButtons from "./event-buttons"

export const dynamic = "force-dynamic"

export default async function Home() {
  const session = await getServerSession(authOptions)
  return (
    <main>
      <h1>eventgate + Next.js</h1>
      {session ? (
        <p>
          Signed in as <strong>{session.user.name}</strong> ({session.user.email}) ·{" "}
          <a href="/api/auth/signout">Sign out</a>
        </p>
      ) : (
        <p>
          Not signed in · <a href="/api/auth/signin">Sign in</a>{" "}
          <span className="demo">demo account: demo / demo-password</span>
        </p>
      )}
      <EventButtons eventgateUrl={process.env.EVENTGATE_URL ?? "http://127.0.0.1:8000"} />
    </main>
  )
}
