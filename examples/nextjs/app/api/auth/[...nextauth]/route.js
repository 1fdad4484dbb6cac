// NextAuth's own endpoints: its sign-in and sign-out pages, the session cookie they set and clear.
import NextAuth from "next-auth"
import { authOptions } from "@/auth"

const handler = NextAuth(authOptions)

export { handler as GET, handler as POST }
