// NextAuth's own endpoints, which every NextAuth app mounts; the bench reads GET /api/auth/session
// once to check that its cookie decrypts to the bench user.
import NextAuth from "next-auth"
import { authOptions } from "@/auth"

const handler = NextAuth(authOptions)

export { handler as GET, handler as POST }
