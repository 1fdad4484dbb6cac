// The app's NextAuth v4 options, as a typical App Router project keeps them: JWT sessions, and a
// provider because NextAuth requires one (the bench never signs in; it sends a minted cookie).
// NEXTAUTH_SECRET comes from the environment: the bench's secret, so its cookie decrypts.
import CredentialsProvider from "next-auth/providers/credentials"

export const authOptions = {
  session: { strategy: "jwt" },
  providers: [
    CredentialsProvider({
      name: "unused",
      credentials: {},
      authorize: async () => null,
    }),
  ],
}
