// next-auth v4 options: JWT sessions (the cookie eventgate reads) and a Credentials provider.
//
// DEMO ONLY: one fixed user with a fixed password, so that the example runs with nothing else.
// Replace this provider with your own (OAuth, email, a user database) before using the app.
import CredentialsProvider from "next-auth/providers/credentials"

const DEMO_USER = { id: "demo-user-1", name: "Demo User", email: "demo@example.com" }

export const authOptions = {
  session: { strategy: "jwt" },
  providers: [
    CredentialsProvider({
      name: "the demo account",
      credentials: {
        username: { label: "Username (demo: demo)", type: "text" },
        password: { label: "Password (demo: demo-password)", type: "password" },
      },
      async authorize(credentials) {
        const isDemo = credentials?.username === "demo" && credentials?.password === "demo-password"
        return isDemo ? DEMO_USER : null
      },
    }),
  ],
}
