// Runs @auth/core's own JWT code on a batch of requests: a JSON array on stdin, one result each
// on stdout. A request names its `op`; a failure becomes `{"error": <jose code or message>}`.
import { readFileSync } from "node:fs"
import { decode, encode, getToken } from "@auth/core/jwt"
import { hkdf } from "@panva/hkdf"
import { encode as encodeA256GCM } from "auth-core-a256gcm/jwt"
import { EncryptJWT, base64url, calculateJwkThumbprint } from "jose"

// The session cookie's chunking is not exported; this is the module @auth/core itself uses.
const { SessionStore } = await import(
  new URL("./node_modules/@auth/core/lib/utils/cookie.js", import.meta.url).href
)

// The Cookie header parser @auth/core uses, a copy of `cookie` it keeps among its own modules.
const { parse: parseCookie } = await import(
  new URL("./node_modules/@auth/core/lib/vendored/cookie.js", import.meta.url).href
)

const silent = { debug() {}, warn() {}, error() {} }

const ops = {
  async encode({ claims, secret, salt, maxAge }) {
    return { token: await encode({ token: claims, secret, salt, maxAge }) }
  },
  // @auth/core before 0.23 issued A256GCM tokens without a kid; 0.22 is that library.
  async encodeA256GCM({ claims, secret, salt, maxAge }) {
    return { token: await encodeA256GCM({ token: claims, secret, salt, maxAge }) }
  },
  async decode({ token, secret, salt }) {
    return { claims: await decode({ token, secret, salt }) }
  },
  async getToken({ cookieHeader, authorization, secret, secureCookie = false }) {
    const headers = new Headers()
    if (cookieHeader !== undefined) headers.set("cookie", cookieHeader)
    if (authorization !== undefined) headers.set("authorization", authorization)
    return { claims: await getToken({ req: { headers }, secret, secureCookie, logger: silent }) }
  },
  // The cookies @auth/core finds in each Cookie header.
  parseCookies({ headers }) {
    return { cookies: headers.map((header) => parseCookie(header)) }
  },
  chunk({ name, value }) {
    const store = new SessionStore({ name, options: {} }, {}, silent)
    return { cookies: store.chunk(value, {}).map((c) => [c.name, c.value]) }
  },
  // @auth/core never compresses, but jose decrypts `zip: "DEF"`: the same key and kid, compressed.
  async encodeCompressed({ claims, secret, salt }) {
    const key = await hkdf("sha256", secret, salt, `Auth.js Generated Encryption Key (${salt})`, 64)
    const kid = await calculateJwkThumbprint({ kty: "oct", k: base64url.encode(key) }, "sha512")
    const header = { alg: "dir", enc: "A256CBC-HS512", kid, zip: "DEF" }
    const jwt = new EncryptJWT(claims).setProtectedHeader(header)
    return { token: await jwt.setIssuedAt().setExpirationTime("1h").encrypt(key) }
  },
}

async function run(request) {
  try {
    return await ops[request.op](request)
  } catch (error) {
    return { error: error.code ?? error.message }
  }
}

const requests = JSON.parse(readFileSync(0, "utf8"))
process.stdout.write(JSON.stringify(await Promise.all(requests.map(run))))
